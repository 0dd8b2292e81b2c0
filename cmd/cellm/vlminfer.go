package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/internal/npy"
	"github.com/cellm-ai/cellm-go/internal/progress"
)

func init() {
	register("vlm-infer", "describe images with a vision-language .cellm model (SmolVLM)", false, runVLMInfer)
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func runVLMInfer(args []string) error {
	fs := newFlags("vlm-infer", "--model FILE.cellm --image PATH [--image PATH ...] --prompt TEXT [flags]\n\n"+
		"The prompt is wrapped in the chat template unless --raw-prompt (or --chat=false) is given.\n"+
		"Without a prompt and with a terminal on stdin (or --interactive): interactive chat; /image PATH attaches an image, /help lists the commands.")
	var g genFlags
	g.register(fs)
	var images multiFlag
	fs.Var(&images, "image", "image `file` (JPEG, PNG, GIF, WebP); repeat for several")
	split := fs.Bool("split-image", false, "split images into tiles plus a global view (default: the processor's do_image_splitting)")
	rawPrompt := fs.Bool("raw-prompt", false, "use --prompt as is (with <image> placeholders) instead of the chat template (same as --chat=false)")
	maxPixels := fs.Int("max-image-pixels", 0, "refuse decoded images larger than this many pixels (0: the default cap)")
	maxTiles := fs.Int("image-max-tiles", 0, "at most `N` tiles per split image, the global view counted (0: no cap); fewer tiles = fewer image tokens and vision passes, a faster first token, less detail")
	longestEdge := fs.Int("image-longest-edge", 0, "resize split images so their longest side is `PX` (default: the processor's size.longest_edge, 2048 for SmolVLM-256M = up to 4x4 tiles of 512)")
	pixelValues := fs.String("pixel-values", "", "feed raw f32 pixel values from this `file` instead of --image")
	pixelShape := fs.String("pixel-shape", "", "shape N,3,H,W of --pixel-values (default: from the FILE.json that --dump-pixel-values writes)")
	pixelGrid := fs.String("pixel-grid", "", "tile grid of --pixel-values, one RxC per image, comma-separated (0x0: not split); default: from FILE.json, else a single tile or a square grid")
	dumpFeatures := fs.String("dump-image-features", "", "write the connector output as raw f32 to this `file`")
	dumpPixels := fs.String("dump-pixel-values", "", "write the preprocessed pixels of --image as raw f32 [N,3,H,W] to this `file` (shape and grid to FILE.json), print the tile grid and prompt ids, and exit")
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
	chatMode := g.prompt == "" && !dumpOnly && (g.interactive || progress.IsTerminal(os.Stdin))
	switch {
	case g.interactive && !chatMode:
		return fmt.Errorf("--interactive takes no --prompt and no --dump-* flag")
	case chatMode && (*rawPrompt || !g.chat):
		return fmt.Errorf("interactive chat uses the chat template: drop --raw-prompt / --chat=false")
	case chatMode && *pixelValues != "":
		return fmt.Errorf("interactive chat takes images as --image or /image PATH, not --pixel-values")
	case g.prompt == "" && !dumpOnly && !chatMode:
		return fmt.Errorf("--prompt (-p) or --prompt-file is required (interactive chat needs a terminal on stdin, or --interactive)")
	}
	req.Prompt = g.prompt
	req.MaxImagePixels = *maxPixels
	if *maxTiles < 0 || *longestEdge < 0 {
		return fmt.Errorf("--image-max-tiles and --image-longest-edge must not be negative")
	}
	req.MaxImageTiles, req.ImageLongestEdge = *maxTiles, *longestEdge
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
	if chatMode {
		var attached []chatImage
		for _, p := range images {
			img, err := loadChatImage(m, p, req.SplitImage, req.MaxImagePixels)
			if err != nil {
				return err
			}
			attached = append(attached, img)
		}
		return runChat(m, &g, req, attached)
	}
	switch {
	case *pixelValues != "":
		if len(images) > 0 {
			return fmt.Errorf("give --image or --pixel-values, not both")
		}
		if req.ImageBatch, err = loadPixels(*pixelValues, *pixelShape, *pixelGrid); err != nil {
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
	req.ImageProgress = tileProgress()
	if *dumpFeatures != "" {
		b := req.ImageBatch
		if b == nil {
			if b, err = m.PreprocessRequestImages(req); err != nil {
				return err
			}
		}
		req.ImageBatch, req.Images = b, nil
		feats, err := m.ImageFeaturesProgress(b, req.ImageProgress)
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
		return fmt.Errorf("--pixel-values: %d tiles are not one tile or a square grid plus a global image: give --pixel-grid RxC (as --dump-pixel-values writes it)", req.ImageBatch.N)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_, err = g.generate(ctx, m, req)
	return err
}

// tileProgress returns a per-tile progress callback that redraws one line
// on stderr when it is a terminal ("vision encoder: tile 7/13, 9.1 s"), else
// nil.
func tileProgress() func(done, total int) {
	if !progress.IsTerminal(os.Stderr) {
		return nil
	}
	start := time.Now()
	return func(done, total int) {
		fmt.Fprintf(os.Stderr, "\rvision encoder: tile %d/%d, %.1f s", done, total, time.Since(start).Seconds())
		if done == total {
			fmt.Fprintln(os.Stderr)
		}
	}
}

// pixelSidecar is the FILE.json written next to --dump-pixel-values output.
type pixelSidecar struct {
	Shape [4]int `json:"shape"`
	Grid  string `json:"pixel_grid"`
}

// parseGrids parses --pixel-grid: one RxC per image, comma-separated; 0x0
// is an image that was not split (a single tile).
func parseGrids(s string) ([]imageproc.Grid, int, error) {
	var grids []imageproc.Grid
	tiles := 0
	for part := range strings.SplitSeq(s, ",") {
		r, c, ok := strings.Cut(strings.TrimSpace(part), "x")
		rows, err1 := strconv.Atoi(r)
		cols, err2 := strconv.Atoi(c)
		if !ok || err1 != nil || err2 != nil || rows < 0 || cols < 0 || (rows == 0) != (cols == 0) || rows*cols > 1024 {
			return nil, 0, fmt.Errorf("--pixel-grid %q: want RxC per image (e.g. 3x4, or 0x0 for an image not split)", s)
		}
		grids = append(grids, imageproc.Grid{Rows: rows, Cols: cols})
		tiles += rows*cols + 1 // 0x0: the one global tile
	}
	return grids, tiles, nil
}

// formatGrids is the --pixel-grid text for grids.
func formatGrids(grids []imageproc.Grid) string {
	parts := make([]string, len(grids))
	for i, g := range grids {
		parts[i] = fmt.Sprintf("%dx%d", g.Rows, g.Cols)
	}
	return strings.Join(parts, ",")
}

// loadPixels reads raw f32 pixels of shape N,3,H,W. The shape and grid come
// from the flags, else from path+".json" (written by --dump-pixel-values).
// Without either grid, one tile is a global image and N = R*R+1 tiles a
// square grid; other counts leave the grid unknown (Grids nil), which is
// enough to encode the tiles but not to build a prompt.
func loadPixels(path, shape, grid string) (*imageproc.Batch, error) {
	var side pixelSidecar
	if data, err := os.ReadFile(path + ".json"); err == nil {
		if err := json.Unmarshal(data, &side); err != nil {
			return nil, fmt.Errorf("%s.json: %w", path, err)
		}
	}
	var d [4]int
	if shape == "" {
		if side.Shape[0] == 0 {
			return nil, fmt.Errorf("--pixel-shape N,3,H,W is required (no %s.json)", path)
		}
		d = side.Shape
	} else {
		dims := strings.Split(shape, ",")
		if len(dims) != 4 {
			return nil, fmt.Errorf("--pixel-shape %q: want N,3,H,W", shape)
		}
		for i, s := range dims {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("--pixel-shape %q: bad dimension %q", shape, s)
			}
			d[i] = v
		}
	}
	if d[1] != 3 || min(d[0], d[2], d[3]) <= 0 {
		return nil, fmt.Errorf("pixel shape %v: want N,3,H,W", d)
	}
	if grid == "" {
		grid = side.Grid
	}
	pixels, err := npy.ReadRawF32(path)
	if err != nil {
		return nil, err
	}
	if int64(len(pixels)) != int64(d[0])*3*int64(d[2])*int64(d[3]) {
		return nil, fmt.Errorf("%s: %d values, shape %v needs %d", path, len(pixels), d, int64(d[0])*3*int64(d[2])*int64(d[3]))
	}
	b := &imageproc.Batch{Pixels: pixels, N: d[0], H: d[2], W: d[3]}
	switch {
	case grid != "":
		grids, tiles, err := parseGrids(grid)
		if err != nil {
			return nil, err
		}
		if tiles != d[0] {
			return nil, fmt.Errorf("--pixel-grid %s needs %d tiles, the pixel values have %d", grid, tiles, d[0])
		}
		b.Grids = grids
	case d[0] == 1:
		b.Grids = []imageproc.Grid{{}}
	default:
		if r := int(math.Sqrt(float64(d[0] - 1))); r*r == d[0]-1 {
			b.Grids = []imageproc.Grid{{Rows: r, Cols: r}}
		}
	}
	return b, nil
}

func dumpPixelValues(m *cellm.Model, req cellm.Request, path string) error {
	b := req.ImageBatch
	var err error
	if b == nil {
		if b, err = m.PreprocessRequestImages(req); err != nil {
			return err
		}
	}
	if err := writeF32(path, b.Pixels); err != nil {
		return err
	}
	side, err := json.Marshal(pixelSidecar{Shape: [4]int{b.N, 3, b.H, b.W}, Grid: formatGrids(b.Grids)})
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".json", append(side, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("pixel_values [%d,3,%d,%d] -> %s (shape and grid in %s.json)\n", b.N, b.H, b.W, path, path)
	for i, g := range b.Grids {
		fmt.Printf("image %d: %d x %d tiles + global\n", i+1, g.Rows, g.Cols)
	}
	fmt.Printf("feed back with: --pixel-values %s --pixel-shape %d,3,%d,%d --pixel-grid %s\n", path, b.N, b.H, b.W, formatGrids(b.Grids))
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
	visionPrecision                             visionPrecisionFlag
}

// visionPrecisionFlag is --vision-bf16: absent, the default (bf16
// activations on bf16/f16 files); --vision-bf16 forces them on,
// --vision-bf16=false forces the f32 path.
type visionPrecisionFlag struct{ p cellm.VisionPrecision }

func (f *visionPrecisionFlag) IsBoolFlag() bool { return true }

func (f *visionPrecisionFlag) String() string {
	if f == nil || f.p == cellm.VisionAuto {
		return "auto"
	}
	return strconv.FormatBool(f.p == cellm.VisionBF16)
}

func (f *visionPrecisionFlag) Set(v string) error {
	on, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	f.p = cellm.VisionF32
	if on {
		f.p = cellm.VisionBF16
	}
	return nil
}

// prefillPrecisionFlag is --prefill-bf16: absent, the default (bf16
// activations for bf16 weights); --prefill-bf16 extends them to f16
// weights, --prefill-bf16=false forces f32 activations.
type prefillPrecisionFlag struct{ p cellm.PrefillPrecision }

func (f *prefillPrecisionFlag) IsBoolFlag() bool { return true }

func (f *prefillPrecisionFlag) String() string {
	if f == nil || f.p == cellm.PrefillAuto {
		return "auto"
	}
	return strconv.FormatBool(f.p == cellm.PrefillBF16)
}

func (f *prefillPrecisionFlag) Set(v string) error {
	on, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	f.p = cellm.PrefillF32
	if on {
		f.p = cellm.PrefillBF16
	}
	return nil
}

// prefillBF16Help documents --prefill-bf16.
const prefillBF16Help = "text prefill (steps over 32 positions): round the projections' activations to bf16 and use the CPU's bf16 dot products " +
	"(AVX512_BF16; 1.5-1.7x faster matrix products); default (auto): on for bf16 weights and f16 weights holding bf16 values only; true: for every f16 weight too (rounded to bf16); =false forces f32 activations"

func (o *onnxFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.vision, "vision-backend", string(cellm.BackendCellm), "vision encoder backend: cellm or onnx")
	fs.StringVar(&o.decoder, "decoder-backend", string(cellm.BackendCellm), "text decoder backend: cellm or onnx")
	fs.StringVar(&o.modelDir, "model-dir", "", "Hugging Face model `folder` with the ONNX exports (in it or in its onnx/), for the onnx backends")
	fs.StringVar(&o.variant, "onnx-variant", "fp32", "ONNX export variant: fp32, fp16, int8, q4, q4f16, ...")
	fs.StringVar(&o.library, "onnxruntime-lib", "", "ONNX Runtime shared library `file` (default $CELLM_ONNXRUNTIME_LIB)")
	fs.BoolVar(&o.dumpIO, "dump-io", false, "list the inputs and outputs of each ONNX session")
	fs.Var(&o.visionPrecision, "vision-bf16", "native vision tower: round the activations to bf16 and use the CPU's bf16 dot products (AVX512_BF16; 2-4x faster tiles, features within cosine 0.99999); default (auto): on for bf16/f16 files, off for f32 and quantized ones; =false forces the f32 path")
}

// open opens the model: a .cellm file (--model / --cellm-model), or the
// --model-dir folder alone when both backends are onnx.
func (o *onnxFlags) open(g *genFlags) (*cellm.Model, error) {
	path, err := resolveModel(g.model)
	if err != nil {
		return nil, err
	}
	if path == "" {
		path = o.modelDir
	}
	if path == "" {
		return nil, fmt.Errorf("--model (-m) FILE.cellm (or --model-dir DIR with both backends onnx) is required")
	}
	m, err := cellm.Open(path, &cellm.Options{TokenizerPath: g.tokenizer, MapFile: g.mapFile, VisionBackend: cellm.Backend(o.vision),
		DecoderBackend: cellm.Backend(o.decoder), ONNXDir: o.modelDir, ONNXVariant: o.variant, ONNXLibrary: o.library,
		VisionPrecision: o.visionPrecision.p, PrefillPrecision: g.prefill.p})
	if cellm.Backend(o.vision) == cellm.BackendONNX && cellm.Backend(o.decoder) == cellm.BackendONNX {
		return m, err // a folder is valid here
	}
	return m, convertHint(path, err)
}
