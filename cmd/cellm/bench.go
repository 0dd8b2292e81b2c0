package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/imageproc"
	"github.com/cellm-ai/cellm-go/internal/progress"
	"github.com/cellm-ai/cellm-go/internal/randmodel"
	"github.com/cellm-ai/cellm-go/kernels"
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
	pp := fs.String("p", "128,512", "prompt lengths to time (prefill), comma-separated; empty for none")
	tg := fs.Int("n", 128, "tokens to decode (0: skip)")
	reps := fs.Int("r", 3, "repetitions of each test")
	threads := fs.String("t", strconv.Itoa(runtime.GOMAXPROCS(0)), "thread counts, comma-separated")
	vision := fs.Bool("vision", false, "for a VLM: time the vision encoder and connector on one tile")
	kvType := fs.String("kv-type", "f32", "KV cache type: f32 or f16")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this `file`")
	var ob onnxFlags
	ob.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("-r %d: want at least 1 repetition", *reps)
	}
	if *tg < 0 {
		return fmt.Errorf("-n %d: want >= 0 tokens (0: skip decode)", *tg)
	}
	if *model != "" && *random != "" {
		return fmt.Errorf("give --model or --random, not both")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	path, err := resolveModel(*model)
	if err != nil {
		return err
	}
	if path == "" && *random != "" {
		var err error
		if path, err = randomCellm(*random, *dtype); err != nil {
			return err
		}
	}
	g := genFlags{model: path}
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
	var pps []int
	for _, s := range strings.Split(*pp, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("-p %q: want positive prompt lengths", *pp)
		}
		pps = append(pps, n)
	}
	desc := fmt.Sprintf("vision %s, decoder %s", ob.vision, ob.decoder)
	if t := m.Text(); t != nil {
		c := t.Config()
		desc += fmt.Sprintf(" (%d layers, hidden %d, weights %s, KV %s)", c.Layers, c.Hidden, c.WeightType, *kvType)
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
	defer kernels.SetThreads(0)
	for _, th := range ths {
		kernels.SetThreads(th)
		for _, n := range pps {
			rates, err := repeat(*reps, func() (float64, error) {
				res, err := m.Generate(ctx, cellm.Request{InputIDs: tokens(n), MaxNewTokens: 1, IgnoreEOS: true,
					KVF16: *kvType == "f16", MaxContext: n + 1}, nil)
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
					KVF16: *kvType == "f16", MaxContext: *tg + 2}, nil)
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
			pixels := make([]float32, 3*s*s)
			for i := range pixels {
				pixels[i] = rng.Float32()*2 - 1
			}
			b := &imageproc.Batch{Pixels: pixels, N: 1, H: s, W: s}
			secs, err := repeat(*reps, func() (float64, error) {
				start := time.Now()
				_, err := m.ImageFeatures(b)
				return float64(time.Since(start).Microseconds()) / 1000, err
			})
			if err != nil {
				return err
			}
			row(th, fmt.Sprintf("vision %dx%d tile", s, s), meanSD(secs)+" ms")
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

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// randomCellm makes (once, cached in the temp folder) a random-weight model
// of the given shape converted to dtype.
func randomCellm(name, dtype string) (string, error) {
	opt, err := convertOptions(dtype)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), "cellm-random", name)
	out := filepath.Join(dir, name+"-"+dtype+".cellm")
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
