package imageproc_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/cellm-ai/cellm-go/imageproc"
)

// Example runs the SmolVLM-256M preprocessing on a PNG: decode, tile and
// normalize, then expand the <image> placeholder of the prompt.
func Example() {
	pre, err := os.ReadFile("testdata/preprocessor_config.json")
	if err != nil {
		panic(err)
	}
	proc, err := os.ReadFile("testdata/processor_config.json")
	if err != nil {
		panic(err)
	}
	cfg, err := imageproc.ParseConfig(pre, proc)
	if err != nil {
		panic(err)
	}
	data, err := os.ReadFile("testdata/coco_000000039769.png")
	if err != nil {
		panic(err)
	}
	img, err := imageproc.Decode(data, 0)
	if err != nil {
		panic(err)
	}
	batch, err := imageproc.Process([]*imageproc.RGB{img}, cfg, cfg.DoImageSplitting)
	if err != nil {
		panic(err)
	}
	prompt, err := imageproc.ExpandPrompt("User:<image>Describe this image.", batch.Grids, cfg.ImageSeqLen)
	if err != nil {
		panic(err)
	}
	fmt.Printf("decoded %dx%d\n", img.W, img.H)
	fmt.Printf("pixel_values [%d,3,%d,%d], grid %dx%d\n", batch.N, batch.H, batch.W, batch.Grids[0].Rows, batch.Grids[0].Cols)
	fmt.Printf("%d <image> tokens\n", strings.Count(prompt, imageproc.ImageToken))
	// Output:
	// decoded 640x480
	// pixel_values [13,3,512,512], grid 3x4
	// 832 <image> tokens
}

func ExampleExpandImageTokens() {
	fmt.Println(imageproc.ExpandImageTokens(1, 2, 1))
	fmt.Println(imageproc.ExpandImageTokens(0, 0, 2))
	// Output:
	// <fake_token_around_image><row_1_col_1><image><fake_token_around_image><row_1_col_2><image>
	//
	// <fake_token_around_image><global-img><image><fake_token_around_image>
	// <fake_token_around_image><global-img><image><image><fake_token_around_image>
}

// ExampleResize halves a 4×2 image with BILINEAR; the output equals
// Pillow's Image.resize((2, 1), Image.BILINEAR).
func ExampleResize() {
	src := imageproc.NewRGB(4, 2)
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 10)
	}
	dst, err := imageproc.Resize(src, 2, 1, imageproc.Bilinear)
	if err != nil {
		panic(err)
	}
	fmt.Println(dst.W, dst.H, dst.Pix)
	// Output:
	// 2 1 [81 91 101 129 139 149]
}
