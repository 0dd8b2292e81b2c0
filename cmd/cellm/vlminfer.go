package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/internal/npy"
)

func init() {
	register("vlm-infer", "describe images with a vision-language .cellm model (SmolVLM)", false, runVLMInfer)
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func runVLMInfer(args []string) error {
	fs := newFlags("vlm-infer", "--model FILE.cellm --image PATH [--image PATH ...] --prompt TEXT [flags]\n\nThe prompt is wrapped in the chat template unless --raw-prompt (or --chat=false) is given.")
	var g genFlags
	g.register(fs)
	var images multiFlag
	fs.Var(&images, "image", "image `file` (JPEG, PNG, GIF, WebP); repeat for several")
	split := fs.Bool("split-image", false, "split images into tiles plus a global view (default: the processor's do_image_splitting)")
	rawPrompt := fs.Bool("raw-prompt", false, "use --prompt as is (with <image> placeholders) instead of the chat template (same as --chat=false)")
	maxPixels := fs.Int("max-image-pixels", 0, "refuse decoded images larger than this many pixels (0: the default cap)")
	pixelValues := fs.String("pixel-values", "", "feed raw f32 pixel values from this `file` instead of --image")
	pixelShape := fs.String("pixel-shape", "", "shape N,3,H,W of --pixel-values")
	dumpFeatures := fs.String("dump-image-features", "", "write the connector output as raw f32 to this `file`")
	dumpPixels := fs.String("dump-pixel-values", "", "write the preprocessed pixels of --image as raw f32 [N,3,H,W] to this `file`, print the tile grid and prompt ids, and exit")
	var ob onnxFlags
	ob.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// The chat template is the default; --raw-prompt or --chat=false use the prompt as is.
	switch {
	case set["chat"] && g.chat && *rawPrompt:
		return fmt.Errorf("--chat and --raw-prompt contradict each other")
	case !set["chat"]:
		g.chat = !*rawPrompt
	}
	splitSet := set["split-image"]
	req, err := g.request()
	if err != nil {
		return err
	}
	// Without a prompt only the dumps run (--dump-image-features then stops).
	dumpOnly := *dumpPixels != "" || *dumpFeatures != ""
	if g.prompt == "" && !dumpOnly {
		return fmt.Errorf("--prompt (-p) or --prompt-file is required")
	}
	req.Prompt = g.prompt
	req.MaxImagePixels = *maxPixels
	if splitSet {
		req.SplitImage = split
	}
	m, err := ob.open(&g)
	if err != nil {
		return err
	}
	defer m.Close()
	if !m.IsVLM() {
		return fmt.Errorf("%s is a text model; use cellm infer", g.model)
	}
	if ob.dumpIO {
		io, err := m.DescribeONNX(ob.library)
		if err != nil {
			return err
		}
		fmt.Fprint(os.Stderr, io)
	}
	switch {
	case *pixelValues != "":
		if len(images) > 0 {
			return fmt.Errorf("give --image or --pixel-values, not both")
		}
		if req.ImageBatch, err = loadPixels(*pixelValues, *pixelShape); err != nil {
			return err
		}
	case len(images) > 0:
		for _, p := range images {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			req.Images = append(req.Images, data)
		}
	default:
		return fmt.Errorf("--image or --pixel-values is required")
	}
	if *dumpPixels != "" {
		return dumpPixelValues(m, req, *dumpPixels)
	}
	if *dumpFeatures != "" {
		b := req.ImageBatch
		if b == nil {
			if b, err = m.PreprocessImages(req.Images, req.SplitImage, req.MaxImagePixels); err != nil {
				return err
			}
		}
		req.ImageBatch, req.Images = b, nil
		feats, err := m.ImageFeatures(b)
		if err != nil {
			return err
		}
		req.ImageFeatures = feats
		if err := writeF32(*dumpFeatures, feats); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %d image feature rows to %s\n", len(feats)/m.Hidden(), *dumpFeatures)
		if g.prompt == "" {
			return nil
		}
	}
	if req.ImageBatch != nil && len(req.ImageBatch.Grids) == 0 {
		return fmt.Errorf("--pixel-values: no tile grid")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_, err = g.generate(ctx, m, req)
	return err
}

// loadPixels reads raw f32 pixels of shape N,3,H,W as one image: a single
// tile is a global image; N = R*C+1 tiles are an R x C grid plus the global view.
func loadPixels(path, shape string) (*imageproc.Batch, error) {
	dims := strings.Split(shape, ",")
	if len(dims) != 4 {
		return nil, fmt.Errorf("--pixel-shape %q: want N,3,H,W", shape)
	}
	var d [4]int
	for i, s := range dims {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("--pixel-shape %q: bad dimension %q", shape, s)
		}
		d[i] = v
	}
	if d[1] != 3 {
		return nil, fmt.Errorf("--pixel-shape %q: want 3 channels", shape)
	}
	pixels, err := npy.ReadRawF32(path)
	if err != nil {
		return nil, err
	}
	if len(pixels) != d[0]*3*d[2]*d[3] {
		return nil, fmt.Errorf("%s: %d values, shape %s needs %d", path, len(pixels), shape, d[0]*3*d[2]*d[3])
	}
	grid := imageproc.Grid{}
	if n := d[0] - 1; n > 0 {
		r := int(math.Sqrt(float64(n)))
		if r*r != n {
			return nil, fmt.Errorf("--pixel-shape: %d tiles are not a square grid plus a global image", d[0])
		}
		grid = imageproc.Grid{Rows: r, Cols: r}
	}
	return &imageproc.Batch{Pixels: pixels, N: d[0], H: d[2], W: d[3], Grids: []imageproc.Grid{grid}}, nil
}

func dumpPixelValues(m *cellm.Model, req cellm.Request, path string) error {
	b := req.ImageBatch
	var err error
	if b == nil {
		if b, err = m.PreprocessImages(req.Images, req.SplitImage, req.MaxImagePixels); err != nil {
			return err
		}
	}
	if err := writeF32(path, b.Pixels); err != nil {
		return err
	}
	fmt.Printf("pixel_values [%d,3,%d,%d] -> %s\n", b.N, b.H, b.W, path)
	for i, g := range b.Grids {
		fmt.Printf("image %d: %d x %d tiles + global\n", i+1, g.Rows, g.Cols)
	}
	req.ImageBatch, req.Images = b, nil
	promptIDs, err := m.Tokenize(req)
	if err != nil {
		return err
	}
	ids := make([]string, len(promptIDs))
	for i, id := range promptIDs {
		ids[i] = strconv.Itoa(id)
	}
	fmt.Printf("prompt ids (%d): [%s]\n", len(ids), strings.Join(ids, ","))
	return nil
}

func writeF32(path string, v []float32) error {
	buf := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
	}
	return os.WriteFile(path, buf, 0o644)
}

// onnxFlags select the ONNX Runtime backends.
type onnxFlags struct {
	vision, decoder, modelDir, variant, library string
	dumpIO                                      bool
}

func (o *onnxFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.vision, "vision-backend", cellm.BackendCellm, "vision encoder backend: cellm or onnx")
	fs.StringVar(&o.decoder, "decoder-backend", cellm.BackendCellm, "text decoder backend: cellm or onnx")
	fs.StringVar(&o.modelDir, "model-dir", "", "Hugging Face model `folder` with the ONNX exports (in it or in its onnx/), for the onnx backends")
	fs.StringVar(&o.variant, "onnx-variant", "fp32", "ONNX export variant: fp32, fp16, int8, q4, q4f16, ...")
	fs.StringVar(&o.library, "onnxruntime-lib", "", "ONNX Runtime shared library `file` (default $CELLM_ONNXRUNTIME_LIB)")
	fs.BoolVar(&o.dumpIO, "dump-io", false, "list the inputs and outputs of each ONNX session")
}

// open opens the model: a .cellm file (--model / --cellm-model), or the
// --model-dir folder alone when both backends are onnx.
func (o *onnxFlags) open(g *genFlags) (*cellm.Model, error) {
	path := g.model
	if path == "" {
		path = o.modelDir
	}
	if path == "" {
		return nil, fmt.Errorf("--model (-m) FILE.cellm (or --model-dir DIR with both backends onnx) is required")
	}
	m, err := cellm.Open(path, &cellm.Options{TokenizerPath: g.tokenizer, VisionBackend: o.vision,
		DecoderBackend: o.decoder, ONNXDir: o.modelDir, ONNXVariant: o.variant, ONNXLibrary: o.library})
	if o.vision == cellm.BackendONNX && o.decoder == cellm.BackendONNX {
		return m, err // a folder is valid here
	}
	return m, convertHint(path, err)
}
