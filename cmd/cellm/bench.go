package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/hf"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/internal/progress"
	"github.com/cellm-ai/cellm-go/internal/randmodel"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/models/idefics3"
	"github.com/cellm-ai/cellm-go/models/llama"
)

func init() {
	register("bench", "measure prefill, decode and vision speed (llama-bench style)", false, runBench)
}

func runBench(args []string) error {
	fs := newFlags("bench", "(--model FILE.cellm | --random NAME --dtype f16|bf16|f32|int8|int8-proj | --model-dir DIR) [flags]")
	model := fs.String("model", "", ".cellm `file` (or hub name org/name) to benchmark")
	alias(fs, "model", "m")
	random := fs.String("random", "", "benchmark a random-weight model at a real shape: "+strings.Join(randmodel.Names(), ", "))
	dtype := fs.String("dtype", "f16", "with --random: "+dtypeHelp)
	qv := fs.String("quantize-vision", "", "with --random and a VLM: int8 quantizes the vision tower and connector (see convert)")
	pp := fs.String("p", "128,512", "prompt lengths to time (prefill), comma-separated; empty for none")
	tg := fs.Int("n", 128, "tokens to decode (0: skip)")
	reps := fs.Int("r", 3, "repetitions of each test")
	threads := fs.String("t", strconv.Itoa(runtime.GOMAXPROCS(0)), "thread counts, comma-separated")
	vision := fs.Bool("vision", false, "for a VLM: time the vision encoder and connector on one tile, with its GFLOP/s as a fraction of the machine's f32-FMA, bf16-dot and int8-dot peaks measured between the runs")
	visionTiles := fs.Int("vision-tiles", 1, "with --vision: tiles per timed call (times are per tile)")
	visionBatch := fs.Int("vision-batch", 0, "with --vision: tiles per vision-tower batch (0: the default, "+strconv.Itoa(idefics3.DefaultVisionBatch)+")")
	imageTTFT := fs.Bool("image-ttft", false, "for a VLM: time to first token of a chat question about a 512x512 image: first ask, a second question about the same image in the session (feature cache and KV reuse), and first asks with --image-max-tiles 5 and 1")
	kvType := fs.String("kv-type", "f32", "KV cache type: f32, f16 or q8 (int8 rows with one scale each; also int8, q8_0)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this `file`")
	batch := fs.String("batch", "", "batch sizes, comma-separated (e.g. 1,4,8,16): B concurrent sequences each prefill the -p length (first one; default 512), then decode -n tokens in batched steps; reports aggregate and per-sequence tok/s and KV memory")
	kvBlock := fs.Int("kv-block", 0, "with --batch: positions per KV cache block (0: 16)")
	decodeProfile := fs.String("decode-profile", "", "with --batch: write a CPU profile of the last repetition's batched decode steps (no prefill) to this `file`, or to file.t<threads>.b<batch> when several thread counts or batch sizes run")
	mapFile := fs.Bool("mmap", false, mapFileHelp)
	var prefill prefillPrecisionFlag
	fs.Var(&prefill, "prefill-bf16", prefillBF16Help)
	outFmt := fs.String("o", "md", "output with --batch: md (table) or jsonl (one JSON object per result)")
	var ob onnxFlags
	ob.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("-r %d: want at least 1 repetition", *reps)
	}
	if _, err := kvcache.ParseDType(*kvType); err != nil {
		return fmt.Errorf("--kv-type %q: want f32, f16 or q8", *kvType)
	}
	if *visionTiles < 1 || *visionBatch < 0 {
		return fmt.Errorf("--vision-tiles %d, --vision-batch %d: want >= 1 tiles, batch >= 0", *visionTiles, *visionBatch)
	}
	if *tg < 0 {
		return fmt.Errorf("-n %d: want >= 0 tokens (0: skip decode)", *tg)
	}
	if *model != "" && *random != "" {
		return fmt.Errorf("give --model or --random, not both")
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	path, err := resolveModel(*model)
	if err != nil {
		return err
	}
	if path == "" && *random != "" {
		var err error
		if path, err = randomCellm(*random, *dtype, *qv); err != nil {
			return err
		}
	}
	g := genFlags{model: path, mapFile: *mapFile, prefill: prefill}
	m, err := ob.open(&g)
	if err != nil {
		return err
	}
	defer m.Close()
	var ths []int
	for _, s := range strings.Split(*threads, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-t %q: want comma-separated thread counts", *threads)
		}
		if err := checkThreads("-t", n); err != nil {
			return err
		}
		ths = append(ths, n)
	}
	if *outFmt != "md" && *outFmt != "jsonl" {
		return fmt.Errorf("-o %q: want md or jsonl", *outFmt)
	}
	if *batch != "" {
		bs, err := parseCounts("--batch", *batch)
		if err != nil {
			return err
		}
		return runBenchBatch(m, path, bs, ths, *pp, *tg, *reps, *kvType, *kvBlock, *outFmt, *decodeProfile)
	}
	pps, err := parseCounts("-p", *pp)
	if err != nil {
		return err
	}
	desc := fmt.Sprintf("vision %s, decoder %s", ob.vision, ob.decoder)
	if d := m.Decoder(); d != nil {
		c := d.Spec()
		weights := ""
		if l, ok := d.(interface{ Config() llama.Config }); ok {
			wt := l.Config().WeightType
			weights = ", weights " + wt.String()
			if p, ok := d.(interface{ BF16PrefillRuns() bool }); ok && p.BF16PrefillRuns() {
				weights += " (prefill on bf16 activations)"
			}
		}
		desc += fmt.Sprintf(" (%s, %d layers, hidden %d%s, KV %s)", c.ModelType, c.Layers, c.Hidden, weights, *kvType)
	}
	size := ""
	if f := m.File(); f != nil {
		size = progress.Bytes(f.Size()) + ", "
	}
	fmt.Printf("model %s (%s%s), kernels %s\n", filepath.Base(path), size, desc, kernels.Implementation())
	row := func(threads int, test, speed string) { fmt.Printf("%7d  %-22s %s\n", threads, test, speed) }
	fmt.Printf("%7s  %-22s %s\n", "threads", "test", "speed")
	rng := rand.New(rand.NewPCG(1, 2))
	tokens := func(n int) []int {
		t := make([]int, n)
		for i := range t {
			t[i] = rng.IntN(m.Vocab())
		}
		return t
	}
	ctx := context.Background()
	for _, th := range ths {
		defer setThreads(th)() // the first restore, run last, brings back the original
		for _, n := range pps {
			rates, err := repeat(*reps, func() (float64, error) {
				res, err := m.Generate(ctx, cellm.Request{InputIDs: tokens(n), MaxNewTokens: 1, IgnoreEOS: true,
					KVType: *kvType, MaxContext: n + 1}, nil)
				if err != nil {
					return 0, err
				}
				return res.Stats.PrefillTokensPerSec(), nil
			})
			if err != nil {
				return err
			}
			row(th, fmt.Sprintf("pp%d", n), meanSD(rates)+" tok/s")
		}
		if *tg > 0 {
			rates, err := repeat(*reps, func() (float64, error) {
				res, err := m.Generate(ctx, cellm.Request{InputIDs: tokens(1), MaxNewTokens: *tg + 1, IgnoreEOS: true,
					KVType: *kvType, MaxContext: *tg + 2}, nil)
				if err != nil {
					return 0, err
				}
				return res.Stats.DecodeTokensPerSec(), nil
			})
			if err != nil {
				return err
			}
			row(th, fmt.Sprintf("tg%d", *tg), meanSD(rates)+" tok/s")
		}
		if cfg, ok := m.ImageConfig(); *vision && ok {
			s := cfg.TileSize
			if v := m.VLM(); v != nil {
				s = v.Vision.Config().ImageSize
			}
			tiles := *visionTiles
			pixels := make([]float32, tiles*3*s*s)
			for i := range pixels {
				pixels[i] = rng.Float32()*2 - 1
			}
			b := &imageproc.Batch{Pixels: pixels, N: tiles, H: s, W: s}
			// After each call, the peak loops run for as long as a tile took,
			// so the fractions compare speeds under the same load.
			kinds := kernels.PeakKinds()
			fracs := make([][]float64, len(kinds))
			var flops float64
			if v := m.VLM(); v != nil {
				flops = visionTileFLOPs(v.Vision.Config())
				v.VisionBatch = *visionBatch
			}
			secs, err := repeat(*reps, func() (float64, error) {
				start := time.Now()
				_, err := m.ImageFeatures(b)
				el := time.Since(start) / time.Duration(tiles) // per tile
				if err == nil && flops > 0 {
					for i, k := range kinds {
						peak, perr := kernels.MeasurePeak(k, kernels.Threads(), el)
						if perr != nil {
							return 0, perr
						}
						fracs[i] = append(fracs[i], 100*flops/el.Seconds()/peak)
					}
				}
				return float64(el.Microseconds()) / 1000, err
			})
			if err != nil {
				return err
			}
			test := fmt.Sprintf("vision %dx%d tile", s, s)
			if tiles > 1 {
				batch := *visionBatch
				if batch == 0 {
					batch = idefics3.DefaultVisionBatch
				}
				test = fmt.Sprintf("vision tile (%d, batch %d)", tiles, batch)
			}
			row(th, test, meanSD(secs)+" ms")
			if flops > 0 {
				fmt.Printf("%7s  %-22s %.1f GFLOP per tile, %.1f GFLOP/s\n", "", "", flops/1e9, flops/1e9/(mean(secs)/1000))
				for i, k := range kinds {
					fracs[i] = fracs[i][1:] // the warm-up run
					row(th, "  % of "+string(k)+" peak", meanSD(fracs[i])+" %")
				}
			}
		}
		if *imageTTFT && m.IsVLM() {
			if err := benchImageTTFT(m, th, row); err != nil {
				return err
			}
		}
	}
	return nil
}

// runBenchBatch runs the --batch benchmark for every thread count and batch size.
func runBenchBatch(m *cellm.Model, path string, batches, threads []int, pp string, tg, reps int, kvType string, kvBlock int, outFmt, profile string) error {
	dec := m.Decoder()
	if dec == nil {
		return fmt.Errorf("--batch needs the native decoder")
	}
	pps, err := parseCounts("-p", pp)
	if err != nil {
		return err
	}
	if len(pps) == 0 {
		return fmt.Errorf("--batch needs a prompt length (-p)")
	}
	nPrompt := slices.Max(pps) // the context the sequences decode at

	if tg <= 0 || reps <= 0 || kvBlock < 0 {
		return fmt.Errorf("--batch needs -n > 0, -r > 0 and --kv-block >= 0")
	}
	kv, err := kvcache.ParseDType(kvType)
	if err != nil {
		return fmt.Errorf("--kv-type %q: want f32, f16 or q8", kvType)
	}
	if outFmt == "md" {
		sp := dec.Spec()
		fmt.Printf("model %s (%s, %d layers, hidden %d, KV %s), kernels %s; B sequences of %d prompt tokens decode %d tokens together\n",
			filepath.Base(path), sp.ModelType, sp.Layers, sp.Hidden, kvType, kernels.Implementation(), nPrompt, tg)
		fmt.Printf("%7s  %5s  %-8s %20s %10s\n", "threads", "batch", "test", "tok/s (aggregate)", "tok/s/seq")
	}
	for _, th := range threads {
		defer setThreads(th)() // the first restore, run last, brings back the original
		for _, b := range batches {
			prof := profile
			if prof != "" && len(threads)*len(batches) > 1 {
				prof = fmt.Sprintf("%s.t%d.b%d", profile, th, b)
			}
			rs, err := benchBatch(dec, kv, kvBlock, b, nPrompt, tg, reps, prof)
			if err != nil {
				return fmt.Errorf("batch %d: %w", b, err)
			}
			for _, r := range rs {
				r.Model, r.Threads = filepath.Base(path), th
				if err := printBatchResult(r, outFmt); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func repeat(n int, f func() (float64, error)) ([]float64, error) {
	if _, err := f(); err != nil { // warm-up: page in the weights
		return nil, err
	}
	out := make([]float64, n)
	for i := range out {
		v, err := f()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func meanSD(v []float64) string {
	var s float64
	for _, x := range v {
		s += x
	}
	mean := s / float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	sd := 0.0
	if len(v) > 1 {
		sd = math.Sqrt(ss / float64(len(v)-1))
	}
	if mean < 10 {
		return fmt.Sprintf("%.3f ± %.3f", mean, sd)
	}
	return fmt.Sprintf("%.1f ± %.1f", mean, sd)
}

// randomCellm makes (once, cached in the temp folder) a random-weight model
// of the given shape converted to dtype, its vision tower quantized to
// quantizeVision ("" keeps it float).
func randomCellm(name, dtype, quantizeVision string) (string, error) {
	opt, err := convertOptions(dtype)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), "cellm-random", name)
	out := filepath.Join(dir, name+"-"+dtype+".cellm")
	if quantizeVision != "" {
		if opt.QuantizeVision, err = parseQuantizeVision(quantizeVision); err != nil {
			return "", err
		}
		out = filepath.Join(dir, name+"-"+dtype+"-vision-"+opt.QuantizeVision+".cellm")
	}
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
		fmt.Fprintf(os.Stderr, "writing random-weight %s to %s\n", name, dir)
		if err := randmodel.Write(dir, name, 1, ""); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(os.Stderr, "converting to %s\n", out)
	if _, err := convertChecked(dir, out, opt); err != nil {
		return "", err
	}
	return out, nil
}

// visionTileFLOPs counts the multiply-adds (2 flops each) of one SigLIP
// tile: patch embedding, and per layer the q, k, v, o projections, the
// attention scores and weighted sum over all patches, and the MLP.
func visionTileFLOPs(c hf.VisionConfig) float64 {
	if c.PatchSize <= 0 {
		return 0
	}
	side := c.ImageSize / c.PatchSize
	n, d, f := float64(side*side), float64(c.HiddenSize), float64(c.IntermediateSize)
	patch := 2 * n * d * float64(c.NumChannels*c.PatchSize*c.PatchSize)
	layer := 2*n*4*d*d + 4*n*n*d + 2*n*2*d*f
	return patch + float64(c.NumHiddenLayers)*layer
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}

// benchImageTTFT times the first token of chat questions about a 512x512
// random-noise PNG (a new image for each first ask, so nothing is cached).
func benchImageTTFT(m *cellm.Model, threads int, row func(int, string, string)) error {
	ctx := context.Background()
	seed := uint64(0)
	newImage := func() ([]byte, error) {
		seed++
		r := rand.New(rand.NewPCG(seed, 99))
		img := image.NewRGBA(image.Rect(0, 0, 512, 512))
		for i := range img.Pix {
			img.Pix[i] = uint8(r.Uint32())
		}
		var buf bytes.Buffer
		err := png.Encode(&buf, img)
		return buf.Bytes(), err
	}
	ask := func(s *cellm.Session, img []byte, q string, maxTiles int) (*cellm.Result, error) {
		return s.Generate(ctx, cellm.Request{Prompt: q, Chat: true, Images: [][]byte{img}, MaxImageTiles: maxTiles, MaxNewTokens: 1, IgnoreEOS: true}, nil)
	}
	report := func(test string, res *cellm.Result) {
		st := res.Stats
		row(threads, test, fmt.Sprintf("%.0f ms (%d tiles, %d prompt tokens, %d reused, %d cached images; preprocess %.0f ms, vision %.0f ms, prefill %.0f ms)",
			ms(st.TimeToFirstToken.Seconds()), st.Tiles, st.PromptTokens, st.ReusedTokens, st.ImageCacheHits,
			ms(st.ImagePreprocess.Seconds()), ms(st.VisionEncode.Seconds()+st.Projection.Seconds()), ms(st.Prefill.Seconds())))
	}
	for _, maxTiles := range []int{0, 5, 1} {
		img, err := newImage()
		if err != nil {
			return err
		}
		s := m.NewSession()
		res, err := ask(s, img, "What is in this image?", maxTiles)
		if err != nil {
			s.Close()
			return err
		}
		name := "image ttft"
		if maxTiles > 0 {
			name = fmt.Sprintf("image ttft, max %d tiles", maxTiles)
		}
		report(name, res)
		if maxTiles == 0 {
			res, err = ask(s, img, "What colours does it have?", 0)
			if err != nil {
				s.Close()
				return err
			}
			report("  same image again", res)
		}
		s.Close()
	}
	return nil
}
