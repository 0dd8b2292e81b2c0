package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/sample"
)

// aliases maps each flag set's alias flags to the flags they spell.
var aliases = map[*flag.FlagSet]map[string]string{}

// alias registers each of names as another spelling of the flag name.
func alias(fs *flag.FlagSet, name string, names ...string) {
	f := fs.Lookup(name)
	if aliases[fs] == nil {
		aliases[fs] = map[string]string{}
	}
	for _, n := range names {
		fs.Var(f.Value, n, "same as -"+name)
		aliases[fs][n] = name
	}
}

// printFlags is flag.PrintDefaults with each flag's aliases on its line.
func printFlags(fs *flag.FlagSet) {
	spell := map[string][]string{}
	for a, name := range aliases[fs] {
		spell[name] = append(spell[name], a)
	}
	w := fs.Output()
	fs.VisitAll(func(f *flag.Flag) {
		if _, isAlias := aliases[fs][f.Name]; isAlias {
			return
		}
		names := append([]string{f.Name}, spell[f.Name]...)
		slices.SortFunc(names[1:], func(a, b string) int { return cmp.Compare(len(a), len(b)) })
		typ, usage := flag.UnquoteUsage(f)
		line := "  -" + strings.Join(names, ", -")
		if typ != "" {
			line += " " + typ
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			if typ == "string" {
				line += fmt.Sprintf("\n    \t%s (default %q)", usage, f.DefValue)
			} else {
				line += fmt.Sprintf("\n    \t%s (default %s)", usage, f.DefValue)
			}
		} else {
			line += "\n    \t" + usage
		}
		fmt.Fprintln(w, line)
	})
}

// genFlags are the generation flags infer and vlm-infer share, with the
// llama.cpp short spellings (-m, -p, -n, -t, -c).
type genFlags struct {
	model, tokenizer, system, chatFormat, stops, kvType string
	prompt, promptFile                                  string
	gen, minGen, topK, threads, ctxSize                 int
	temp, topP, minP, repPenalty                        float64
	seed                                                uint64
	chat, ignoreEOS, showTokens, stats                  bool
	interactive, noThink, mapFile                       bool
	enableThinking                                      optBool
	templateKwargs                                      string
	prefill                                             prefillPrecisionFlag
}

// optBool is a boolean flag that remembers whether it was given.
type optBool struct{ set, value bool }

func (b *optBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.value)
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	b.set, b.value = true, v
	return nil
}

// IsBoolFlag lets the flag be given without a value.
func (b *optBool) IsBoolFlag() bool { return true }

func (g *genFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.model, "model", "", ".cellm model `file`, or a hub name org/name[@revision][:variant] (pulled into the model store on first use)")
	alias(fs, "model", "m", "cellm-model")
	fs.StringVar(&g.prompt, "prompt", "", "prompt `text`")
	alias(fs, "prompt", "p")
	fs.StringVar(&g.promptFile, "prompt-file", "", "read the prompt from this `file`")
	fs.StringVar(&g.tokenizer, "tokenizer", "", "tokenizer.json `file` (default: the one embedded in the model)")
	fs.BoolVar(&g.mapFile, "mmap", false, mapFileHelp)
	fs.Var(&g.prefill, "prefill-bf16", prefillBF16Help)
	fs.BoolVar(&g.chat, "chat", false, "wrap the prompt in the model's chat format")
	fs.StringVar(&g.chatFormat, "chat-format", "auto", "chat rendering: auto, template, chatml or plain")
	fs.StringVar(&g.system, "system", "", "system message (chat)")
	fs.Var(&g.enableThinking, "enable-thinking", "set the chat template's enable_thinking (Qwen3): true or false (default: the template's)")
	fs.BoolVar(&g.noThink, "no-think", false, "same as --enable-thinking=false")
	fs.StringVar(&g.templateKwargs, "chat-template-kwargs", "", "further chat template variables as a JSON `object`, e.g. '{\"enable_thinking\": false}'")
	fs.BoolVar(&g.interactive, "interactive", false, "interactive chat even when stdin is not a terminal (the default without a prompt on a terminal)")
	alias(fs, "interactive", "i")
	fs.IntVar(&g.gen, "gen", 128, "maximum new tokens")
	alias(fs, "gen", "n", "max-new-tokens")
	fs.IntVar(&g.minGen, "min-new-tokens", 0, "suppress end-of-sequence before this many tokens")
	fs.IntVar(&g.ctxSize, "ctx-size", 0, "context size: prompt plus generated tokens (0: the model's max_position_embeddings)")
	alias(fs, "ctx-size", "c")
	fs.Float64Var(&g.temp, "temperature", 0, "sampling temperature (0: greedy)")
	fs.IntVar(&g.topK, "top-k", 0, "top-k sampling (0: off)")
	fs.Float64Var(&g.topP, "top-p", 1, "nucleus sampling (1: off)")
	fs.Float64Var(&g.minP, "min-p", 0, "min-p sampling (0: off)")
	fs.Float64Var(&g.repPenalty, "repetition-penalty", 1, "repetition penalty (1: off)")
	fs.Uint64Var(&g.seed, "seed", 0, "random seed")
	fs.StringVar(&g.stops, "stop", "", "stop strings, separated by '|'")
	fs.BoolVar(&g.ignoreEOS, "ignore-eos", false, "keep generating past end-of-sequence tokens")
	fs.BoolVar(&g.showTokens, "show-tokens", false, "print each generated token's id beside its text")
	fs.BoolVar(&g.stats, "stats", false, "print timings and peak memory to stderr")
	fs.StringVar(&g.kvType, "kv-type", "f32", "KV cache type: f32, f16 or q8 (int8 rows with one scale each; also int8, q8_0)")
	fs.IntVar(&g.threads, "threads", runtime.GOMAXPROCS(0), "worker threads")
	alias(fs, "threads", "t")
}

// request checks the flags and returns the request they describe (without
// its prompt); it reads --prompt-file into g.prompt.
func (g *genFlags) request() (r cellm.Request, err error) {
	r = cellm.Request{Chat: g.chat, ChatFormat: g.chatFormat, System: g.system, MaxNewTokens: g.gen,
		MinNewTokens: g.minGen, IgnoreEOS: g.ignoreEOS, MaxContext: g.ctxSize, Sampling: sample.Options{Temperature: float32(g.temp),
			TopK: g.topK, TopP: float32(g.topP), MinP: float32(g.minP), RepetitionPenalty: float32(g.repPenalty), Seed: g.seed}}
	switch {
	case g.gen <= 0:
		return r, fmt.Errorf("--gen (--max-new-tokens, -n) %d: must be positive", g.gen)
	case g.minGen < 0 || g.minGen > g.gen:
		return r, fmt.Errorf("--min-new-tokens %d: must be between 0 and --gen (%d)", g.minGen, g.gen)
	case !(g.repPenalty > 0) || math.IsInf(g.repPenalty, 0):
		return r, fmt.Errorf("--repetition-penalty %v: must be a finite number > 0 (1: off)", g.repPenalty)
	case g.ctxSize < 0:
		return r, fmt.Errorf("--ctx-size (-c) %d: must be >= 0", g.ctxSize)
	}
	if err := checkThreads("--threads (-t)", g.threads); err != nil {
		return r, err
	}
	if err := r.Sampling.Validate(); err != nil {
		return r, err
	}
	if g.stops != "" {
		r.Stop = strings.Split(g.stops, "|")
		for _, s := range r.Stop {
			if s == "" {
				return r, fmt.Errorf("--stop %q: empty stop string (separate stop strings with '|': --stop \"a|b\")", g.stops)
			}
		}
	}
	kv, err := kvcache.ParseDType(g.kvType)
	if err != nil {
		return r, fmt.Errorf("--kv-type %q: want f32, f16 or q8", g.kvType)
	}
	r.KVType = kv.String()
	if r.TemplateVars, err = g.templateVars(); err != nil {
		return r, err
	}
	if g.promptFile != "" {
		if g.prompt != "" {
			return r, fmt.Errorf("give --prompt or --prompt-file, not both")
		}
		data, err := os.ReadFile(g.promptFile)
		if err != nil {
			return r, fmt.Errorf("--prompt-file: %w", err)
		}
		g.prompt = string(data)
	}
	setThreads(g.threads)
	return r, nil
}

// templateVars returns the chat template variables of --chat-template-kwargs,
// --enable-thinking and --no-think, or nil.
func (g *genFlags) templateVars() (map[string]any, error) {
	vars := map[string]any{}
	if g.templateKwargs != "" {
		var kw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(g.templateKwargs), &kw); err != nil || kw == nil {
			return nil, fmt.Errorf("--chat-template-kwargs %q: want a JSON object, e.g. '{\"enable_thinking\": false}'", g.templateKwargs)
		}
		for k, v := range kw {
			vars[k] = v // raw JSON: the template sees its objects' key order
		}
	}
	think, thinkFlag := g.enableThinking.value, "--enable-thinking"
	switch {
	case g.noThink && g.enableThinking.set && g.enableThinking.value:
		return nil, fmt.Errorf("--no-think and --enable-thinking contradict each other")
	case g.noThink:
		think, thinkFlag = false, "--no-think"
	case !g.enableThinking.set:
		thinkFlag = ""
	}
	if thinkFlag != "" {
		if v, ok := vars["enable_thinking"]; ok {
			return nil, fmt.Errorf("%s and --chat-template-kwargs (enable_thinking: %s) both set enable_thinking: give one", thinkFlag, v)
		}
		vars["enable_thinking"] = think
	}
	if len(vars) == 0 {
		return nil, nil
	}
	return vars, nil
}

// checkThreads accepts 1 to 4 threads per CPU.
func checkThreads(flagName string, n int) error {
	if most := 4 * runtime.NumCPU(); n < 1 || n > most {
		return fmt.Errorf("%s %d: want 1..%d (this machine has %d CPUs)", flagName, n, most, runtime.NumCPU())
	}
	return nil
}

func (g *genFlags) open() (*cellm.Model, error) {
	if g.model == "" {
		return nil, fmt.Errorf("--model (-m) is required")
	}
	path, err := resolveModel(g.model)
	if err != nil {
		return nil, err
	}
	m, err := cellm.Open(path, &cellm.Options{TokenizerPath: g.tokenizer, MapFile: g.mapFile, PrefillPrecision: g.prefill.p})
	return m, convertHint(path, err)
}

// mapFileHelp documents --mmap.
const mapFileHelp = "map the model file in place instead of copying it into transparent-huge-page memory at open " +
	"(the default on Linux, for faster weight streaming)"

// dtypeHelp documents the --dtype values convert and bench share.
const dtypeHelp = "storage type: f16, bf16, f32, int8 (every matrix as per-row int8, like llama.cpp Q8_0; other tensors f16), " +
	"int8-proj (only the attention and MLP projections int8), int4 (every matrix int4 in groups of 32, like Q4_0) " +
	"or mixed (MLP int4 g32; attention, embed_tokens and lm_head int8 g32)"

// convertOptions returns the conversion options for a --dtype value.
func convertOptions(dtype string) (convert.Options, error) {
	switch dtype {
	case "int8", "i8", "q8_0":
		return convert.Options{DType: format.F16, QuantizeInt8: true, QuantizeEmbeddings: true}, nil
	case "int8-proj":
		return convert.Options{DType: format.F16, QuantizeInt8: true}, nil
	case "int4", "i4", "q4_0", "mixed":
		scheme, _ := parseQuantize(dtype)
		return convert.Options{DType: format.F16, Quantize: scheme, GroupSize: defaultGroupSize(scheme), QuantizeEmbeddings: true}, nil
	}
	dt, err := format.ParseDType(dtype)
	if err != nil || dt.Quantized() {
		return convert.Options{}, fmt.Errorf("--dtype %q: want f16, bf16, f32, int8, int8-proj, int4 or mixed", dtype)
	}
	return convert.Options{DType: dt}, nil
}

// parseQuantize accepts the --quantize schemes, in the spellings --dtype
// accepts too.
func parseQuantize(s string) (string, error) {
	switch strings.ToLower(s) {
	case "int8", "i8", "q8_0":
		return "int8", nil
	case "int4", "i4", "q4_0":
		return "int4", nil
	case "mixed":
		return "mixed", nil
	}
	return "", fmt.Errorf("--quantize %q: want int8, int4 or mixed", s)
}

// parseQuantizeVision accepts the --quantize-vision schemes.
func parseQuantizeVision(s string) (string, error) {
	switch strings.ToLower(s) {
	case "int8", "i8":
		return "int8", nil
	}
	return "", fmt.Errorf("--quantize-vision %q: want int8", s)
}

// defaultGroupSize is the columns per scale when --group-size is not given:
// one scale per row for int8 (the original scheme), 32 for int4 and mixed,
// the best perplexity measured (see README).
func defaultGroupSize(scheme string) int {
	if scheme == "int8" {
		return 0
	}
	return 32
}

// parseGroupSize returns the columns per scale for --group-size (0: one
// scale per row).
func parseGroupSize(s string) (int, error) {
	switch s {
	case "row":
		return 0, nil
	case "32", "64", "128":
		return strconv.Atoi(s)
	}
	return 0, fmt.Errorf("--group-size %q: want 32, 64, 128 or row", s)
}

// convertHint adds how to convert a Hugging Face checkpoint to an error
// about opening one as a .cellm model.
func convertHint(path string, err error) error {
	if err == nil {
		return nil
	}
	dir := ""
	if st, serr := os.Stat(path); serr == nil && st.IsDir() {
		dir = path
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".safetensors", ".bin", ".pt", ".pth", ".msgpack", ".onnx":
		dir = filepath.Dir(path)
	}
	if dir == "" {
		return err
	}
	return fmt.Errorf("%w\n%s is a checkpoint, not a .cellm file; convert its folder first:\n  cellm convert --input %s --output model.cellm",
		err, path, dir)
}

// setThreads makes n goroutines share each kernel call and caps the OS
// threads running Go code at n (GOMAXPROCS), so that -t 1 means one thread
// of compute. It returns a function restoring the previous GOMAXPROCS and
// the kernels' default.
func setThreads(n int) (restore func()) {
	prev := runtime.GOMAXPROCS(n)
	kernels.SetThreads(n)
	return func() {
		runtime.GOMAXPROCS(prev)
		kernels.SetThreads(0)
	}
}

// startCPUProfile starts writing a CPU profile to path (nothing if path is
// empty) and returns the function that stops it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
