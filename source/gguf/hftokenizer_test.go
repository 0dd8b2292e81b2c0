package gguf

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/tokenizer"
)

// TestSentencePieceTokenizer builds the tokenizer.json of a small llama
// (SentencePiece) vocabulary and checks the merges derived from the scores,
// byte fallback, BOS and decoding through cellm's tokenizer.
func TestSentencePieceTokenizer(t *testing.T) {
	tk := &Tokenizer{Model: "llama", BOS: 1, EOS: 2, UNK: 0, PAD: -1, EOT: -1, EOM: -1, AddBOS: true, AddSpace: true}
	add := func(tok string, typ int32, score float32) {
		tk.Tokens = append(tk.Tokens, tok)
		tk.Types = append(tk.Types, typ)
		tk.Scores = append(tk.Scores, score)
	}
	add("<unk>", TokenUnknown, 0)
	add("<s>", TokenControl, 0)
	add("</s>", TokenControl, 0)
	for b := 0; b < 256; b++ {
		add(fmt.Sprintf("<0x%02X>", b), TokenByte, 0)
	}
	for _, p := range []struct {
		s     string
		score float32
	}{{"▁", -1}, {"a", -2}, {"b", -3}, {"▁a", -4}, {"ab", -5}, {"▁ab", -6}, {"é", -7}} {
		add(p.s, TokenNormal, p.score)
	}
	add("[PAD]", TokenUnused, 0)
	id := func(s string) int { return slices.Index(tk.Tokens, s) }
	merges := tk.spmMerges(map[string]int{"▁": id("▁"), "a": id("a"), "b": id("b"), "▁a": id("▁a"), "ab": id("ab"), "▁ab": id("▁ab")})
	if want := []string{"▁ a", "a b", "▁ ab", "▁a b"}; !slices.Equal(merges, want) {
		t.Fatalf("merges %q, want %q", merges, want)
	}
	raw, err := tk.HFTokenizerJSON()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode("ab abc é", true)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{1, id("▁ab"), id("▁ab"), id("<0x63>"), id("▁"), id("é")}
	if !slices.Equal(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	if s, err := tok.Decode(ids, true); err != nil || s != "ab abc é" {
		t.Fatalf("decode %q %v", s, err)
	}
	if _, ok := tok.TokenToID("[PAD]"); ok {
		t.Error("unused token kept in the vocabulary")
	}
}

// TestGPT2Tokenizer reads a byte-level BPE vocabulary (a derived Qwen2.5
// one) from a fixture and checks what its tokenizer.json keeps.
func TestGPT2Tokenizer(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "kquant-tiny.quantize-Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tk, err := f.ReadTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	if tk.Model != "gpt2" || tk.Pre != "qwen2" || tk.BOS != -1 || tk.EOS != 482 || tk.PAD != 480 || tk.AddBOS ||
		len(tk.Tokens) != 512 || len(tk.Merges) != 224 || !slices.Equal(tk.EOSIDs(), []int{482}) {
		t.Fatalf("tokenizer %s/%s bos %d eos %d pad %d add_bos %v, %d tokens, %d merges", tk.Model, tk.Pre, tk.BOS,
			tk.EOS, tk.PAD, tk.AddBOS, len(tk.Tokens), len(tk.Merges))
	}
	raw, err := tk.HFTokenizerJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Added []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
		Normalizer struct{ Type string } `json:"normalizer"`
		Model      struct {
			Vocab  map[string]int `json:"vocab"`
			Merges []string       `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// 480 BPE tokens + 22 added tokens; the 10 UNUSED padding ids are left out.
	if len(doc.Model.Vocab) != 502 || len(doc.Added) != 22 || doc.Added[2].Content != "<|im_end|>" || doc.Added[2].ID != 482 ||
		doc.Normalizer.Type != "NFC" || len(doc.Model.Merges) != 224 {
		t.Fatalf("vocab %d, added %d (%+v), normalizer %q, merges %d", len(doc.Model.Vocab), len(doc.Added), doc.Added[:3],
			doc.Normalizer.Type, len(doc.Model.Merges))
	}
	cfg, err := tk.HFTokenizerConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(cfg, &c)
	if c["eos_token"] != "<|im_end|>" || c["pad_token"] != "<|endoftext|>" || c["chat_template"] == nil || c["bos_token"] != nil {
		t.Errorf("tokenizer_config %v", c)
	}
	tk.Pre = "unknown-pre"
	if _, err := tk.HFTokenizerJSON(); err == nil {
		t.Error("unknown pre-tokenizer accepted")
	}
}

// TestSentencePieceTinyLlama rebuilds TinyLlama's (Llama 2 SentencePiece)
// vocabulary as a GGUF file describes it: tokens in id order, types, and
// scores (a piece scores minus the rank of its first merge in the genuine
// tokenizer.json, as SentencePiece BPE scores order merges). The
// tokenizer.json derived from that must give the reference ids of every
// TinyLlama case.
func TestSentencePieceTinyLlama(t *testing.T) {
	root := filepath.Join(testutil.RepoRoot(t), "tokenizer", "testdata")
	zr, err := os.Open(filepath.Join(root, "TinyLlama-1.1B-Chat-v1.0.tokenizer.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	gz, err := gzip.NewReader(zr)
	if err != nil {
		t.Fatal(err)
	}
	var hfTok struct {
		Model struct {
			Vocab  map[string]int `json:"vocab"`
			Merges []string       `json:"merges"`
		} `json:"model"`
	}
	if err := json.NewDecoder(gz).Decode(&hfTok); err != nil {
		t.Fatal(err)
	}
	n := len(hfTok.Model.Vocab)
	tk := &Tokenizer{Model: "llama", Tokens: make([]string, n), Types: make([]int32, n), Scores: make([]float32, n),
		BOS: 1, EOS: 2, UNK: 0, PAD: -1, EOT: -1, EOM: -1, AddBOS: true, AddSpace: true}
	for tok, id := range hfTok.Model.Vocab {
		tk.Tokens[id] = tok
		tk.Types[id] = TokenNormal
	}
	tk.Types[0], tk.Types[1], tk.Types[2] = TokenUnknown, TokenControl, TokenControl
	for id := 3; id < 259; id++ {
		tk.Types[id] = TokenByte
	}
	ranked := map[string]bool{}
	for rank, m := range hfTok.Model.Merges {
		piece := strings.Replace(m, " ", "", 1)
		if id, ok := hfTok.Model.Vocab[piece]; ok && !ranked[piece] {
			ranked[piece] = true
			tk.Scores[id] = -float32(rank)
		}
	}
	raw, err := tk.HFTokenizerJSON()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	cases, err := os.ReadFile(filepath.Join(root, "TinyLlama-1.1B-Chat-v1.0.cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			ID      string `json:"id"`
			Text    string `json:"text"`
			IDs     []int  `json:"ids_add_special_true"`
			Decoded string `json:"decode_ids_add_special_true_skip_special"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(cases, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) < 60 {
		t.Fatalf("only %d cases", len(ref.Cases))
	}
	for _, c := range ref.Cases {
		ids, err := tok.Encode(c.Text, true)
		if err != nil || !slices.Equal(ids, c.IDs) {
			t.Errorf("%s: ids %v (%v), want %v", c.ID, ids, err, c.IDs)
			continue
		}
		if s, err := tok.Decode(ids, true); err != nil || s != c.Decoded {
			t.Errorf("%s: decode %q (%v), want %q", c.ID, s, err, c.Decoded)
		}
	}
}
