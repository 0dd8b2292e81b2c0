package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// chatCLI runs the command line in-process with input on stdin (a file, not
// a terminal) and returns its exit code, stdout and stderr (what run writes
// and what goes to os.Stderr: prompts, notices, stats).
func chatCLI(t *testing.T, input string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	in := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(in, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errFile, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	oldOut, oldIn, oldErr := os.Stdout, os.Stdin, os.Stderr
	os.Stdout, os.Stdin, os.Stderr = out, f, errFile
	code = run(args, errFile)
	os.Stdout, os.Stdin, os.Stderr = oldOut, oldIn, oldErr
	out.Seek(0, io.SeekStart)
	data, _ := io.ReadAll(out)
	errFile.Seek(0, io.SeekStart)
	errData, _ := io.ReadAll(errFile)
	return code, string(data), string(errData)
}

// turnStats are the --stats figures of each turn of a chat.
type turnStats struct{ prompt, reused, generated int }

var (
	promptLine    = regexp.MustCompile(`prompt tokens (\d+)(?: \((\d+) reused from the session's cache\))?`)
	generatedLine = regexp.MustCompile(`generated (\d+) tokens`)
)

func parseTurnStats(t *testing.T, stderr string) []turnStats {
	t.Helper()
	ps := promptLine.FindAllStringSubmatch(stderr, -1)
	gs := generatedLine.FindAllStringSubmatch(stderr, -1)
	if len(ps) != len(gs) {
		t.Fatalf("%d prompt lines, %d generated lines in %q", len(ps), len(gs), stderr)
	}
	out := make([]turnStats, len(ps))
	for i := range ps {
		out[i].prompt, _ = strconv.Atoi(ps[i][1])
		out[i].reused, _ = strconv.Atoi(ps[i][2])
		out[i].generated, _ = strconv.Atoi(gs[i][1])
	}
	return out
}

// Slash commands are handled by the chat, never sent to the model: only the
// three messages are generated for ("//exit" is the message "/exit"), and
// the line after /exit is never read.
func TestChatCommands(t *testing.T) {
	m := micro(t)
	input := "hi\n/help\n/foo\n/system You are a snake.\n/clear\nhi\n//exit\n/exit\nnever sent\n"
	code, stdout, stderr := chatCLI(t, input, "infer", "-m", m, "--interactive", "--stats", "-n", "4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"/image", "unknown command /foo", "system message set", "conversation cleared"} {
		if got := strings.Contains(stderr, want); got != (want != "/image") {
			t.Errorf("stderr has %q: %v (a text model has no /image)\n%s", want, got, stderr)
		}
	}
	st := parseTurnStats(t, stderr)
	if len(st) != 3 {
		t.Fatalf("%d generations, want 3 (hi, hi, /exit): %s", len(st), stderr)
	}
	// /clear: the second "hi" starts a new conversation, and /system
	// changed its system message.
	if st[1].prompt == st[0].prompt {
		t.Errorf("the same prompt length %d with another system message", st[0].prompt)
	}
	if st[2].prompt <= st[1].prompt+st[1].generated {
		t.Errorf("turn 3 prompt %d does not hold turn 2 (%d + %d)", st[2].prompt, st[1].prompt, st[1].generated)
	}
	if n := strings.Count(stdout, "\n"); n < 3 {
		t.Errorf("stdout %q: want 3 replies", stdout)
	}
	// With --interactive, a prompt is refused; without it, stdin that is
	// not a terminal needs a prompt.
	if code, _, stderr := chatCLI(t, "hi\n", "infer", "-m", m, "--interactive", "-p", "hi"); code != 1 || !strings.Contains(stderr, "--interactive takes no prompt") {
		t.Errorf("--interactive with -p: exit %d, %s", code, stderr)
	}
	if code, _, stderr := chatCLI(t, "hi\n", "infer", "-m", m); code != 1 || !strings.Contains(stderr, "--interactive") {
		t.Errorf("no prompt on a pipe: exit %d, %s", code, stderr)
	}
}

// The session keeps its KV cache between turns: the second turn reuses the
// first turn's prompt and prefills only the new tail.
func TestChatReusesCache(t *testing.T) {
	m := micro(t)
	code, _, stderr := chatCLI(t, "What is a list?\nAnd a tuple?\nHow do I sort it?\n", "infer", "-m", m, "--interactive", "--stats", "-n", "8")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	st := parseTurnStats(t, stderr)
	if len(st) != 3 || st[0].reused != 0 {
		t.Fatalf("stats %+v: %s", st, stderr)
	}
	for i := 1; i < len(st); i++ {
		prev := st[i-1]
		// Everything the previous turn held but its last sampled token
		// (never fed back) is at most reused; its whole prompt at least, but
		// for its last token, which may merge with the reply when re-encoded.
		if st[i].reused < prev.prompt-1 || st[i].reused > prev.prompt+prev.generated || st[i].reused >= st[i].prompt {
			t.Errorf("turn %d: %d of %d prompt tokens reused; the previous turn held %d + %d", i+1, st[i].reused, st[i].prompt, prev.prompt, prev.generated)
		}
	}
}

// A conversation that outgrows the context drops its oldest turns and says
// so; a message that cannot fit alone is an error that leaves the chat
// running.
func TestChatContextTrim(t *testing.T) {
	m := micro(t)
	code, _, stderr := chatCLI(t, "What is a list?\nAnd a tuple?\nHow do I sort it?\n", "infer", "-m", m, "--interactive", "--stats", "-n", "16", "-c", "80")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if st := parseTurnStats(t, stderr); len(st) != 3 || strings.Contains(stderr, "error") {
		t.Fatalf("%d turns answered: %s", len(st), stderr)
	}
	if !strings.Contains(stderr, "outgrew the context of 80 tokens: dropped the oldest 1 turn(s)") {
		t.Errorf("no notice of dropped turns: %s", stderr)
	}
	code, _, stderr = chatCLI(t, "What is a list?\n/exit\n", "infer", "-m", m, "--interactive", "-n", "8", "-c", "20")
	if code != 0 || !strings.Contains(stderr, "error: the prompt fills the context") || !strings.Contains(stderr, "the context holds 20") {
		t.Errorf("a message longer than the context: exit %d: %s", code, stderr)
	}
}

// The template variable flags become Request.TemplateVars; contradictions,
// bad JSON and a plain prompt are refused.
func TestTemplateVarFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // JSON of the variables, or an error substring
	}{
		{nil, "null"},
		{[]string{"--no-think"}, `{"enable_thinking":false}`},
		{[]string{"--enable-thinking"}, `{"enable_thinking":true}`},
		{[]string{"--enable-thinking=false"}, `{"enable_thinking":false}`},
		{[]string{"--chat-template-kwargs", `{"enable_thinking": false, "x": [1, "a"]}`}, `{"enable_thinking":false,"x":[1,"a"]}`},
		{[]string{"--chat-template-kwargs", `{"x": 1}`, "--no-think"}, `{"enable_thinking":false,"x":1}`},
		{[]string{"--no-think", "--enable-thinking"}, "contradict"},
		{[]string{"--no-think", "--chat-template-kwargs", `{"enable_thinking": true}`}, "both set enable_thinking"},
		{[]string{"--chat-template-kwargs", `[1]`}, "want a JSON object"},
		{[]string{"--chat-template-kwargs", `null`}, "want a JSON object"},
		{[]string{"--chat-template-kwargs", `{"a":`}, "want a JSON object"},
	} {
		fs := newFlags("test", "")
		var g genFlags
		g.register(fs)
		if err := parse(fs, c.args); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		req, err := g.request()
		if err != nil {
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: err %v, want %q", c.args, err, c.want)
			}
			continue
		}
		got, _ := json.Marshal(req.TemplateVars)
		if string(got) != c.want {
			t.Errorf("%v: variables %s, want %s", c.args, got, c.want)
		}
	}
	m := micro(t)
	if code, _, stderr := cli(t, "infer", "-m", m, "-p", "hi", "--no-think"); code != 1 || !strings.Contains(stderr, "add --chat") {
		t.Errorf("--no-think on a plain prompt: exit %d, %s", code, stderr)
	}
}

// --no-think reaches a model whose chat template is Qwen3's: the prompt
// gains the empty think block; --enable-thinking leaves it as the default.
func TestNoThinkQwen3Template(t *testing.T) {
	dir := t.TempDir()
	if err := testutil.CopyFiles(testutil.Fixture(t, "pretrained-micro"), dir); err != nil {
		t.Fatal(err)
	}
	qwen, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "chat", "testdata", "Qwen3-0.6B", "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, _, _, err := chat.FromConfigs(qwen, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	var cfg map[string]any
	data, _ := os.ReadFile(cfgPath)
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["chat_template"] = tmpl
	data, _ = json.Marshal(cfg)
	os.WriteFile(cfgPath, data, 0o644)
	model := filepath.Join(dir, "qwen-template.cellm")
	if code, _, stderr := cli(t, "convert", "-i", dir, "-o", model, "--dtype", "int8"); code != 0 {
		t.Fatal(stderr)
	}
	promptTokens := func(args ...string) int {
		t.Helper()
		code, _, stderr := chatCLI(t, "", append([]string{"infer", "-m", model, "--chat", "-p", "hi", "-n", "1", "--stats"}, args...)...)
		st := parseTurnStats(t, stderr)
		if code != 0 || len(st) != 1 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return st[0].prompt
	}
	m, err := cellm.Open(model, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	block, err := m.Tokenizer().Encode("<think>\n\n</think>\n\n", false)
	if err != nil {
		t.Fatal(err)
	}
	base := promptTokens()
	if got := promptTokens("--enable-thinking"); got != base {
		t.Errorf("--enable-thinking: %d prompt tokens, default %d", got, base)
	}
	for _, args := range [][]string{{"--no-think"}, {"--chat-template-kwargs", `{"enable_thinking": false}`}} {
		if got := promptTokens(args...); got != base+len(block) {
			t.Errorf("%v: %d prompt tokens, want %d + %d of the empty think block", args, got, base, len(block))
		}
	}
	// Interactive chat passes them on too.
	code, _, stderr := chatCLI(t, "hi\n", "infer", "-m", model, "--interactive", "--no-think", "-n", "1", "--stats")
	if st := parseTurnStats(t, stderr); code != 0 || len(st) != 1 || st[0].prompt != base+len(block) {
		t.Errorf("interactive --no-think: exit %d, stats %+v, want %d prompt tokens: %s", code, st, base+len(block), stderr)
	}
}

// vlm-infer's interactive mode: --image and /image attach images to the
// next message, each turn's reply is what a fresh generation of the whole
// conversation gives (images encoded once, features reused), and the cache
// is reused across turns.
func TestVLMChat(t *testing.T) {
	dir := t.TempDir()
	if err := testutil.TinyVLMFolder(testutil.RepoRoot(t), dir); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "vlm.cellm")
	if code, _, stderr := cli(t, "convert", "-i", dir, "-o", model, "--dtype", "f32"); code != 0 {
		t.Fatal(stderr)
	}
	bird := filepath.Join(testutil.RepoRoot(t), "imageproc", "testdata", "bird.jpg")
	wide := filepath.Join(dir, "wide.png")
	writeTestPNG(t, wide, 120, 60)

	input := "What is it?\n/image " + filepath.Join(dir, "missing.png") + "\n/image " + wide + "\nAnd this?\n"
	code, stdout, stderr := chatCLI(t, input, "vlm-infer", "-m", model, "--image", bird, "--interactive", "--stats", "-n", "6", "--ignore-eos")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"attached " + bird + " to your first message", "missing.png: no such file", "attached " + wide} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, stderr)
		}
	}
	st := parseTurnStats(t, stderr)
	if len(st) != 2 || st[1].reused < st[0].prompt {
		t.Fatalf("stats %+v: the second turn should reuse the first's prompt: %s", st, stderr)
	}

	m, err := cellm.Open(model, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	birdData, _ := os.ReadFile(bird)
	wideData, _ := os.ReadFile(wide)
	ctx := context.Background()
	first, err := m.Generate(ctx, cellm.Request{Messages: []chat.Message{{Role: "user", Content: "What is it?", Images: 1}},
		Images: [][]byte{birdData}, MaxNewTokens: 6, IgnoreEOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := m.Generate(ctx, cellm.Request{Messages: []chat.Message{
		{Role: "user", Content: "What is it?", Images: 1}, {Role: "assistant", Content: first.Text},
		{Role: "user", Content: "And this?", Images: 1}},
		Images: [][]byte{birdData, wideData}, MaxNewTokens: 6, IgnoreEOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := first.Text + "\n" + second.Text + "\n"; stdout != want {
		t.Errorf("chat replies %q, fresh generations %q", stdout, want)
	}
	if second.Stats.PromptTokens != st[1].prompt || second.Stats.Images != 2 {
		t.Errorf("second turn: %d prompt tokens in the chat, %d (%d images) in a fresh generation", st[1].prompt, second.Stats.PromptTokens, second.Stats.Images)
	}
	// /image on a text model is refused, not sent.
	code, _, stderr = chatCLI(t, "/image "+bird+"\n", "infer", "-m", micro(t), "--interactive")
	if code != 0 || !strings.Contains(stderr, "this model takes no images") {
		t.Errorf("/image on a text model: exit %d: %s", code, stderr)
	}
	if code, _, stderr := chatCLI(t, "hi\n", "vlm-infer", "-m", model, "--interactive", "--raw-prompt"); code != 1 || !strings.Contains(stderr, "chat template") {
		t.Errorf("--interactive --raw-prompt: exit %d: %s", code, stderr)
	}
}

// writeTestPNG writes a w x h PNG with a fixed pattern.
func writeTestPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7 / 3)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// --kv-type names (aliases included) reach the request; q8 generates the
// same greedy text as f32 on the shipped model; a bad name is refused.
func TestKVTypeFlag(t *testing.T) {
	for _, c := range []struct{ arg, want string }{{"f32", "f32"}, {"f16", "f16"}, {"q8", "q8"}, {"int8", "q8"}, {"q8_0", "q8"}, {"bf16", "want f32, f16 or q8"}} {
		fs := newFlags("test", "")
		var g genFlags
		g.register(fs)
		if err := parse(fs, []string{"--kv-type", c.arg}); err != nil {
			t.Fatal(err)
		}
		req, err := g.request()
		if got := req.KVType; err != nil && !strings.Contains(err.Error(), c.want) || err == nil && got != c.want {
			t.Errorf("--kv-type %s: KVType %q, err %v; want %q", c.arg, got, err, c.want)
		}
	}
	m := micro(t)
	_, want, _ := cli(t, "infer", "-m", m, "-p", "A class is", "-n", "16", "--kv-type", "f32")
	code, got, stderr := cli(t, "infer", "-m", m, "-p", "A class is", "-n", "16", "--kv-type", "q8")
	if code != 0 || got != want || want == "" {
		t.Errorf("q8 KV: exit %d, %q (%s); f32 KV: %q", code, got, stderr, want)
	}
}
