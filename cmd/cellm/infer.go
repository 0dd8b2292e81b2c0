package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/engine"
	"github.com/cellm-ai/cellm-go/generate"
	"github.com/cellm-ai/cellm-go/internal/progress"
	"github.com/cellm-ai/cellm-go/kvcache"
	"github.com/cellm-ai/cellm-go/sample"
)

func init() {
	register("infer", "generate text with a .cellm model (prompt, chat, or interactive)", false, runInfer)
}

// printer streams tokens to stdout.
func (g *genFlags) printer(w io.Writer) func(cellm.Token) bool {
	return func(t cellm.Token) bool {
		if g.showTokens && t.ID >= 0 {
			fmt.Fprintf(w, "[%d]%s", t.ID, t.Text)
		} else {
			fmt.Fprint(w, t.Text)
		}
		if f, ok := w.(interface{ Flush() error }); ok {
			f.Flush()
		}
		return true
	}
}

func printStats(w io.Writer, res *cellm.Result) {
	s := res.Stats
	switch {
	case s.Tiles > 0 && s.VisionEncode == 0:
		fmt.Fprintf(w, "images %d (%d tiles): encoded before (features reused)\n", s.Images, s.Tiles)
	case s.Tiles > 0:
		fmt.Fprintf(w, "images %d (%d tiles): preprocess %.1f ms, vision encode %.1f ms (%.1f ms/tile), projection %.1f ms\n",
			s.Images, s.Tiles, ms(s.ImagePreprocess.Seconds()), ms(s.VisionEncode.Seconds()),
			ms(s.VisionEncode.Seconds())/float64(s.Tiles), ms(s.Projection.Seconds()))
	}
	reused := ""
	if s.ReusedTokens > 0 {
		reused = fmt.Sprintf(" (%d reused from the session's cache)", s.ReusedTokens)
	}
	fmt.Fprintf(w, "prompt tokens %d%s, prefill %.1f tok/s (%.1f ms), time to first token %.1f ms\n",
		s.PromptTokens, reused, s.PrefillTokensPerSec(), ms(s.Prefill.Seconds()), ms(s.TimeToFirstToken.Seconds()))
	fmt.Fprintf(w, "generated %d tokens, decode %.1f tok/s, stop: %s, peak memory %s\n",
		s.GeneratedTokens, s.DecodeTokensPerSec(), res.StopReason, progress.Bytes(peakRSS()))
}

func ms(s float64) float64 { return s * 1000 }

// peakRSS reads the process's peak resident set size (Linux), or 0.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb * 1024
		}
	}
	return 0
}

func runInfer(args []string) error {
	fs := newFlags("infer", "--model FILE.cellm [--prompt TEXT | --prompt-file F | --input-ids 1,2,3] [flags]\n\nWithout a prompt and with a terminal on stdin (or --interactive): interactive chat; /help lists its commands,\nCtrl-C stops a reply, Ctrl-C at the prompt or /exit quits.")
	var g genFlags
	g.register(fs)
	inputIDs := fs.String("input-ids", "", "feed these comma-separated token ids instead of a prompt")
	dumpLogits := fs.String("dump-logits", "", "write the last prompt position's logits as raw little-endian f32 to this `file`")
	if err := parse(fs, args); err != nil {
		return err
	}
	req, err := g.request()
	if err != nil {
		return err
	}
	m, err := g.open()
	if err != nil {
		return err
	}
	defer m.Close()
	if *dumpLogits != "" {
		return dumpLastLogits(m, g.prompt, *inputIDs, *dumpLogits)
	}
	if *inputIDs != "" && g.prompt != "" {
		return fmt.Errorf("give --prompt or --input-ids, not both")
	}
	switch {
	case *inputIDs != "":
		if req.InputIDs, err = parseIDs(*inputIDs); err != nil {
			return fmt.Errorf("--input-ids: %w", err)
		}
	case g.prompt != "":
		req.Prompt = g.prompt
	case g.interactive || progress.IsTerminal(os.Stdin):
		return runChat(m, &g, req, nil)
	default:
		return fmt.Errorf("--prompt (-p), --prompt-file or --input-ids is required (interactive chat needs a terminal on stdin, or --interactive)")
	}
	if g.interactive {
		return fmt.Errorf("--interactive takes no prompt: give one or the other")
	}
	if req.TemplateVars != nil && !req.Chat {
		return fmt.Errorf("--enable-thinking, --no-think and --chat-template-kwargs apply to chat prompts: add --chat")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_, err = g.generate(ctx, m, req)
	return err
}

// generator is a *cellm.Model (one-shot) or a *cellm.Session (keeps its cache).
type generator interface {
	Generate(ctx context.Context, req cellm.Request, onToken func(cellm.Token) bool) (*cellm.Result, error)
}

// generate streams one generation to stdout and prints its stats to stderr
// if asked.
func (g *genFlags) generate(ctx context.Context, m generator, req cellm.Request) (*cellm.Result, error) {
	res, err := g.stream(ctx, os.Stdout, m, req)
	if err == nil && g.stats {
		printStats(os.Stderr, res)
	}
	return res, err
}

// stream streams one generation to w, ending it with a newline.
func (g *genFlags) stream(ctx context.Context, w io.Writer, m generator, req cellm.Request) (*cellm.Result, error) {
	out := bufio.NewWriter(w)
	res, err := m.Generate(ctx, req, g.printer(out))
	fmt.Fprintln(out)
	out.Flush()
	return res, err
}

// dumpLastLogits runs the prompt and writes its last position's logits.
func dumpLastLogits(m *cellm.Model, prompt, inputIDs, path string) error {
	var ids []int
	var err error
	if inputIDs != "" {
		ids, err = parseIDs(inputIDs)
	} else {
		if m.Tokenizer() == nil {
			return cellm.ErrNoTokenizer
		}
		ids, err = m.Tokenizer().Encode(prompt, true)
	}
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("empty prompt")
	}
	dec := m.Decoder()
	if dec == nil {
		return fmt.Errorf("--dump-logits needs the native decoder")
	}
	logits := make([]float32, dec.Spec().Vocab)
	e, err := engine.New(dec, engine.Options{MaxContext: len(ids), KVBudgetBytes: generate.KVBytes(dec.Spec(), kvcache.F32, len(ids))})
	if err != nil {
		return err
	}
	if _, err := e.NewSession().Prefill(ids, nil, logits); err != nil {
		return err
	}
	buf := make([]byte, 4*len(logits))
	for i, v := range logits {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %d logits of position %d to %s (argmax %d)\n", len(logits), len(ids)-1, path, sample.Argmax(logits))
	return nil
}
