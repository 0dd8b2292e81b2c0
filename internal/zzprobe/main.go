package main

import (
	"bufio"
	"fmt"
	"image"
	"image/png"
	"os"
	"strings"
	"time"

	"github.com/cellm-ai/cellm-go/imageproc"
)

func hwm() string {
	f, _ := os.Open("/proc/self/status")
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "VmHWM") {
			return s.Text()
		}
	}
	return ""
}

func main() {
	path := os.Args[1]
	if _, err := os.Stat(path); err != nil {
		const n = 9400
		img := image.NewRGBA(image.Rect(0, 0, n, n))
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				i := img.PixOffset(x, y)
				img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(x/37), uint8(y/37), uint8((x+y)/74), 255
			}
		}
		f, _ := os.Create(path)
		e := png.Encoder{CompressionLevel: png.BestCompression}
		e.Encode(f, img)
		f.Close()
		return
	}
	data, _ := os.ReadFile(path)
	cfg, err := imageproc.ParseConfig([]byte(`{"size":{"longest_edge":2048},"max_image_size":{"longest_edge":512},"do_image_splitting":true,"resample":1}`), nil)
	if err != nil {
		panic(err)
	}
	t0 := time.Now()
	var b *imageproc.Batch
	{
		img, err := imageproc.Load(data, imageproc.DecodeOptions{}, cfg)
		if err != nil {
			panic(err)
		}
		b, err = imageproc.Process([]*imageproc.RGB{img}, cfg, true)
	}
	fmt.Println(len(data), b.N, time.Since(t0), hwm())
}
