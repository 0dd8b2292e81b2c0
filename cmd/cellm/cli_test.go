package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// cli runs the command line in-process with stdin from /dev/null and
// returns its exit code, stdout and stderr.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldIn := os.Stdout, os.Stdin
	os.Stdout, os.Stdin = out, null
	var errBuf bytes.Buffer
	code = run(args, &errBuf)
	os.Stdout, os.Stdin = oldOut, oldIn
	null.Close()
	out.Seek(0, io.SeekStart)
	data, _ := io.ReadAll(out)
	out.Close()
	return code, string(data), errBuf.String()
}

var (
	microOnce sync.Once
	microDir  string
	microErr  error
)

// micro converts the shipped English model once per test binary.
func micro(t *testing.T) string {
	t.Helper()
	in := testutil.Fixture(t, "pretrained-micro")
	microOnce.Do(func() {
		if microDir, microErr = os.MkdirTemp("", "cellm-cli-test-*"); microErr != nil {
			return
		}
		var stderr bytes.Buffer
		if code := run([]string{"convert", "-i", in, "-o", filepath.Join(microDir, "micro.cellm"), "--dtype", "int8"}, &stderr); code != 0 {
			microErr = &os.PathError{Op: "convert", Path: in, Err: os.ErrInvalid}
			t.Log(stderr.String())
		}
	})
	if microErr != nil {
		t.Fatal(microErr)
	}
	return filepath.Join(microDir, "micro.cellm")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if microDir != "" {
		os.RemoveAll(microDir)
	}
	os.Exit(code)
}

// Flag mistakes a user makes fail with exit 1 or 2 and a message naming the flag.
func TestFlagErrors(t *testing.T) {
	m := micro(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"infer", "-m", m}, 1, "--prompt (-p), --prompt-file or --input-ids is required"}, // stdin is /dev/null
		{[]string{"infer", "-m", m, "-p", "x", "--stop", "a|"}, 1, "--stop \"a|\": empty stop string"},
		{[]string{"infer", "-m", m, "-p", "x", "--stop", "|"}, 1, "empty stop string"},
		{[]string{"infer", "-m", m, "--prompt", "A", "class", "is"}, 1, `unexpected argument "class"`},
		{[]string{"infer", "-m", m, "-p", "x", "--threads", "0"}, 1, "--threads (-t) 0"},
		{[]string{"infer", "-m", m, "-p", "x", "-t", "-1"}, 1, "--threads (-t) -1"},
		{[]string{"infer", "-m", m, "-p", "x", "-t", "1000"}, 1, "--threads (-t) 1000"},
		{[]string{"infer", "-m", m, "-p", "x", "--repetition-penalty", "0"}, 1, "--repetition-penalty 0"},
		{[]string{"infer", "-m", m, "-p", "x", "--min-new-tokens", "5", "--gen", "2"}, 1, "--min-new-tokens 5"},
		{[]string{"infer", "-m", m, "-p", "x", "-n", "0"}, 1, "--gen (--max-new-tokens, -n) 0"},
		{[]string{"infer", "-m", m, "-p", "x", "-c", "-3"}, 1, "--ctx-size (-c) -3"},
		{[]string{"infer", "-m", m, "-p", "x", "--input-ids", "1,2"}, 1, "not both"},
		{[]string{"infer", "-m", m, "-p", "x", "--prompt-file", "f"}, 1, "not both"},
		{[]string{"infer", "-m", m, "--prompt-file", filepath.Join(t.TempDir(), "missing")}, 1, "--prompt-file"},
		{[]string{"infer", "-p", "x"}, 1, "--model (-m) is required"},
		{[]string{"infer", "--nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"bench", "-m", m, "-r", "0"}, 1, "-r 0: want at least 1"},
		{[]string{"bench", "-m", m, "-t", "0"}, 1, "-t 0"},
		{[]string{"bench", "--random", "smollm2-135m", "--dtype", "q3"}, 1, `--dtype "q3"`},
		{[]string{"tokenize", "-m", m}, 1, "--text TEXT (to encode) or --decode 1,2,3 is required"},
		{[]string{"tokenize", "-m", m, "--text", "a", "--decode", "1"}, 1, "not both"},
		{[]string{"vlm-infer", "-m", m, "--image", "x.png"}, 1, "--prompt (-p) or --prompt-file is required"},
		{[]string{"vlm-infer", "-m", m, "-p", "x", "--chat", "--raw-prompt"}, 1, "contradict"},
		{[]string{"convert", "-i", "x", "-o", "y", "--dtype", "i3"}, 1, `--dtype "i3"`},
		{[]string{"convert", "-i", "x", "-o", "y", "--quantize", "int2"}, 1, `--quantize "int2"`},
		{[]string{"convert", "-i", "x", "-o", "y", "--quantize", "int4", "--group-size", "48"}, 1, `--group-size "48"`},
		{[]string{"convert", "-i", "x", "-o", "y", "--group-size", "32"}, 1, `--group-size needs quantization`},
		{[]string{"convert", "-i", "x", "-o", "y", "--dtype", "int4", "--quantize", "int8"}, 1, `already quantizes`},
		{[]string{"convert", "-i", "x", "-o", "y", "--quantize-embeddings"}, 1, "--quantize-embeddings needs"},
		{[]string{"convert", "-i", "x", "-o", "y", "--quantize-vision", "int4"}, 1, `--quantize-vision "int4": want int8`},
		{[]string{"bench", "--random", "smolvlm-256m", "--quantize-vision", "f8"}, 1, `--quantize-vision "f8"`},
		{[]string{"bench", "-m", m, "--vision-tiles", "0"}, 1, `--vision-tiles 0`},
		{[]string{"perplexity", "-m", m, "-f", "x", "-c", "1"}, 1, "--ctx-size (-c) 1"},
		{[]string{"perplexity", "-m", m, "-f", "x", "--prefill-bf16=maybe"}, 2, `invalid boolean value "maybe" for -prefill-bf16: want true or false`},
		{[]string{"version", "extra"}, 1, `unexpected argument "extra"`},
	} {
		code, _, stderr := cli(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

// The llama.cpp spellings and both names of the token limit work everywhere.
func TestAliases(t *testing.T) {
	m := micro(t)
	prompt := filepath.Join(t.TempDir(), "prompt.txt")
	os.WriteFile(prompt, []byte("A class is"), 0o644)
	var outs []string
	for _, args := range [][]string{
		{"infer", "-m", m, "-p", "A class is", "-n", "4", "-t", "1", "-c", "64"},
		{"infer", "--model", m, "--prompt-file", prompt, "--max-new-tokens", "4", "--threads", "1", "--ctx-size", "64"},
		{"infer", "--cellm-model", m, "--prompt", "A class is", "--gen", "4"},
	} {
		code, stdout, stderr := cli(t, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		outs = append(outs, stdout)
	}
	if outs[0] != outs[1] || outs[0] != outs[2] || strings.TrimSpace(outs[0]) == "" {
		t.Errorf("the spellings generate differently: %q", outs)
	}
	// --gen and -n reach vlm-infer too (which then refuses the text model).
	if code, _, stderr := cli(t, "vlm-infer", "-m", m, "--gen", "3", "-n", "3", "-p", "x", "--image", "x.png"); code != 1 || !strings.Contains(stderr, "is a text model") {
		t.Errorf("vlm-infer --gen: exit %d: %s", code, stderr)
	}
	// A context too small for the prompt is enforced.
	if code, _, stderr := cli(t, "infer", "-m", m, "-p", "A class is", "-c", "2"); code != 1 || !strings.Contains(stderr, "context limit of 2") {
		t.Errorf("-c 2: exit %d: %s", code, stderr)
	}
	if code, stdout, stderr := cli(t, "tokenize", "-m", m, "-p", "A class"); code != 0 || !strings.HasPrefix(stdout, "[") {
		t.Errorf("tokenize -p: exit %d, %q %s", code, stdout, stderr)
	}
}

// help <cmd> and <cmd> -h succeed; version reports the build.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"help", "infer"}, {"infer", "-h"}, {"convert", "--help"}, {"help", "vlm-infer"}} {
		code, _, stderr := cli(t, args...)
		if code != 0 || !strings.Contains(stderr, "Usage: cellm") {
			t.Errorf("%q: exit %d, %q", args, code, stderr)
		}
	}
	if _, _, stderr := cli(t, "help"); !strings.Contains(stderr, "make-random-model") || !strings.Contains(stderr, "version") {
		t.Errorf("command list: %s", stderr)
	}
	if _, _, stderr := cli(t, "help", "infer"); !strings.Contains(stderr, "-max-new-tokens") || !strings.Contains(stderr, "-ctx-size") {
		t.Errorf("infer help lacks aliases: %s", stderr)
	}
	if code, _, _ := cli(t, "help", "nope"); code != 2 {
		t.Errorf("help of an unknown command: exit %d", code)
	}
	code, stdout, _ := cli(t, "version")
	for _, want := range []string{"cellm ", "go1.", "kernels", "build tags", "onnxruntime"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("version: exit %d, %q lacks %q", code, stdout, want)
		}
	}
}

// writeHeader writes a structurally valid .cellm file with header h.
func writeHeader(t *testing.T, h format.Header) string {
	t.Helper()
	data, err := format.NewWriter(h).Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "h.cellm")
	os.WriteFile(path, data, 0o644)
	return path
}

// inspect says whether a file runs, and why not.
func TestInspectRuns(t *testing.T) {
	m := micro(t)
	code, stdout, stderr := cli(t, "inspect", m)
	if code != 0 || !strings.Contains(stdout, "runs: yes") {
		t.Errorf("micro: exit %d, %s %s", code, stdout, stderr)
	}
	// --dtype int8 quantized the embeddings too (bench and convert mean the same).
	_, stdout, _ = cli(t, "inspect", "--json", m)
	var hv struct {
		Header format.Header
	}
	json.Unmarshal([]byte(stdout), &hv)
	embed := format.DType("missing")
	for _, ti := range hv.Header.Tensors {
		if ti.Name == "model.embed_tokens.weight" {
			embed = ti.DType
		}
	}
	if embed != format.I8 {
		t.Errorf("--dtype int8: embeddings stored as %s", embed)
	}
	empty := filepath.Join(t.TempDir(), "empty.cellm")
	var b bytes.Buffer
	b.WriteString("CELLM\x01\x02\x00\x00\x00{}")
	for b.Len()%64 != 0 {
		b.WriteByte(0)
	}
	os.WriteFile(empty, b.Bytes(), 0o644)
	for _, c := range []struct{ path, want string }{
		{empty, "model_type is missing"},
		{writeHeader(t, format.Header{ModelType: "gpt2", VocabSize: 8}), `model_type "gpt2"`},
		{writeHeader(t, format.Header{ModelType: "llama", SourceModelType: "gpt2"}), `model_type "gpt2"`},
		{writeHeader(t, format.Header{ModelType: "llama"}), "vocab_size = 0"},
	} {
		code, stdout, _ := cli(t, "inspect", c.path)
		if code != 1 || !strings.Contains(stdout, "runs: no") || !strings.Contains(stdout, c.want) {
			t.Errorf("%s: exit %d, %s", c.want, code, stdout)
		}
		code, stdout, _ = cli(t, "inspect", "--json", c.path)
		var v struct {
			Valid, Runs bool
			Error       string
		}
		if err := json.Unmarshal([]byte(stdout), &v); err != nil || code != 1 || !v.Valid || v.Runs || !strings.Contains(v.Error, c.want) {
			t.Errorf("%s --json: exit %d, %s", c.want, code, stdout)
		}
	}
}

// linkFixture makes a folder of symlinks to a fixture's files, with the
// files in replace written instead.
func linkFixture(t *testing.T, name string, replace map[string][]byte) string {
	t.Helper()
	src := testutil.Fixture(t, name)
	dir := t.TempDir()
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if data, ok := replace[e.Name()]; ok {
			os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644)
		} else {
			os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	return dir
}

// What the converter's own checks miss, the runtime gate refuses before the
// rename: a vision tower activation the runtime lacks. A broken chat
// template fails up front. Nothing is written either way.
func TestConvertRuntimeGate(t *testing.T) {
	cfg, err := os.ReadFile(testutil.Fixture(t, "smolvlm-tiny", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(cfg, &c)
	c["vision_config"].(map[string]any)["hidden_act"] = "relu"
	badAct, _ := json.Marshal(c)
	for _, tc := range []struct {
		fixture, file string
		data          []byte
		want          string
	}{
		{"smolvlm-tiny", "config.json", badAct, `m.cellm: the converted model would not run: vision config: hidden_act "relu" not supported`},
		{"pretrained-micro", "tokenizer_config.json", []byte(`{"chat_template": "{% for m in messages %}{{ m.content }"}`), "parse template"},
	} {
		dir := linkFixture(t, tc.fixture, map[string][]byte{tc.file: tc.data})
		outDir := t.TempDir()
		out := filepath.Join(outDir, "m.cellm")
		code, _, stderr := cli(t, "convert", "--input", dir, "--output", out)
		if code != 1 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, ".tmp-") || strings.Count(stderr, out) > 1 {
			t.Errorf("%s: exit %d: %s", tc.want, code, stderr)
		}
		if left, _ := os.ReadDir(outDir); len(left) != 0 {
			t.Errorf("%s: left %v", tc.want, left)
		}
	}
}

// Errors name a file once, and point at convert when given a checkpoint.
func TestErrorMessages(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "v.cellm")
	os.WriteFile(bad, []byte("CELLM\x01junk"), 0o644)
	if _, _, stderr := cli(t, "infer", "-m", bad, "-p", "x"); strings.Count(stderr, bad) != 1 {
		t.Errorf("file named %d times: %s", strings.Count(stderr, bad), stderr)
	}
	hfDir := testutil.Fixture(t, "llama-tiny")
	for _, path := range []string{hfDir, filepath.Join(hfDir, "model.safetensors")} {
		for _, args := range [][]string{{"infer", "-m", path, "-p", "x"}, {"inspect", path}, {"tokenize", "-m", path, "--text", "x"}} {
			_, stdout, stderr := cli(t, args...)
			if !strings.Contains(stdout+stderr, "cellm convert --input "+hfDir) {
				t.Errorf("%q: no convert hint: %s %s", args, stdout, stderr)
			}
		}
	}
	// A model without a tokenizer names the CLI flag, not the SDK field.
	noTok := filepath.Join(t.TempDir(), "tiny.cellm")
	if code, _, stderr := cli(t, "convert", "-i", hfDir, "-o", noTok); code != 0 {
		t.Fatal(stderr)
	}
	if _, _, stderr := cli(t, "infer", "-m", noTok, "-p", "x"); !strings.Contains(stderr, "--tokenizer") || strings.Contains(stderr, "Options.") {
		t.Errorf("no tokenizer: %s", stderr)
	}
	if code, stdout, _ := cli(t, "inspect", noTok); code != 0 || !strings.Contains(stdout, "note: no tokenizer embedded") {
		t.Errorf("inspect without tokenizer: exit %d, %s", code, stdout)
	}
}

// A VLM converted without its preprocessor_config.json runs text, and
// inspect says why images do not work.
func TestInspectNotesMissingImageConfig(t *testing.T) {
	dir := linkFixture(t, "smolvlm-tiny", nil)
	os.Remove(filepath.Join(dir, "preprocessor_config.json"))
	out := filepath.Join(t.TempDir(), "vlm.cellm")
	if code, _, stderr := cli(t, "convert", "-i", dir, "-o", out); code != 0 {
		t.Fatal(stderr)
	}
	if code, stdout, _ := cli(t, "inspect", out); code != 0 || !strings.Contains(stdout, "note: images unavailable: the model has no preprocessor_config.json") {
		t.Errorf("exit %d, %s", code, stdout)
	}
}

// demo says where it looked when run outside the repository, and writes
// only into a temporary folder it removes.
func TestDemo(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	code, _, stderr := cli(t, "demo", "--input", filepath.Join(tmp, "nowhere"))
	if code != 1 || !strings.Contains(stderr, "run the demo from the repository root, or pass --input") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	code, stdout, stderr := cli(t, "demo", "--input", testutil.Fixture(t, "pretrained-micro"), "--gen", "2")
	if code != 0 || !strings.Contains(stdout, "runs: yes") || !strings.Contains(stdout, "cellm-demo-") {
		t.Errorf("demo: exit %d: %s %s", code, stdout, stderr)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("demo left %v in the temp folder", left)
	}
}

// bench --batch prints one JSON line per test and batch size, and
// --decode-profile writes a (gzipped) CPU profile of each batch size's decode steps.
func TestBenchBatchJSONAndDecodeProfile(t *testing.T) {
	m := micro(t)
	prof := filepath.Join(t.TempDir(), "decode.prof")
	code, stdout, stderr := cli(t, "bench", "-m", m, "--batch", "1,2", "-p", "8", "-n", "4", "-r", "1", "-t", "1",
		"--kv-type", "q8", "-o", "jsonl", "--decode-profile", prof)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r benchResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if !(r.TokensPerS > 0) || r.Threads != 1 || r.KVType != "q8" {
			t.Errorf("result %+v", r)
		}
		got = append(got, fmt.Sprintf("%s/b%d", r.Test, r.Batch))
	}
	if want := []string{"pp8/b1", "tg4/b1", "pp8/b2", "tg4/b2"}; !slices.Equal(got, want) {
		t.Errorf("tests %q, want %q", got, want)
	}
	for _, b := range []string{"1", "2"} {
		data, err := os.ReadFile(prof + ".t1.b" + b)
		if err != nil || len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
			t.Errorf("profile of batch %s: %d bytes, %v", b, len(data), err)
		}
	}
}
