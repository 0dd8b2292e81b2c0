package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzLoad feeds arbitrary bytes to Load: it must return an error or a
// working tokenizer, never panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`))
	f.Add([]byte(`{"added_tokens":[{"id":3,"content":"<s>","special":true,"lstrip":true,"rstrip":true,"single_word":true}],` +
		`"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},` +
		`"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},` +
		`"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},` +
		`"model":{"type":"BPE","vocab":{"<unk>":0,"a":1,"▁":2,"<0x41>":4},"merges":[],"unk_token":"<unk>","byte_fallback":true,"fuse_unk":true}}`))
	f.Add([]byte(`{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"` + strings.ReplaceAll(patLlama3, `\`, `\\`) + `"},"behavior":"Isolated","invert":false},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[["a","a"]]}}`))
	// Qwen2 style: NFC, the Qwen2 split regex, then ByteLevel.
	f.Add([]byte(`{"normalizer":{"type":"NFC"},"pre_tokenizer":{"type":"Sequence","pretokenizers":[` +
		`{"type":"Split","pattern":{"Regex":"` + strings.ReplaceAll(patQwen2, `\`, `\\`) + `"},"behavior":"Isolated","invert":false},` +
		`{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}]},` +
		`"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0,"Ġ":1,"Ġa":2},"merges":[["Ġ","a"]]}}`))
	// Gemma style: Replace normalizer, literal Split, byte fallback, <bos>.
	f.Add([]byte(`{"added_tokens":[{"id":2,"content":"<bos>","special":true,"normalized":false},{"id":5,"content":"\n","special":false,"normalized":false}],` +
		`"normalizer":{"type":"Replace","pattern":{"String":" "},"content":"▁"},` +
		`"pre_tokenizer":{"type":"Split","pattern":{"String":" "},"behavior":"MergedWithPrevious","invert":false},` +
		`"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<bos>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"special_tokens":{"<bos>":{"id":"<bos>","ids":[2],"tokens":["<bos>"]}}},` +
		`"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"}]},` +
		`"model":{"type":"BPE","vocab":{"<unk>":0,"a":1,"<bos>":2,"▁":3,"<0x41>":4,">":6,"<":7,">▁":8,">▁<":9},"merges":[[">","▁"],[">▁","<"]],"unk_token":"<unk>","byte_fallback":true,"fuse_unk":true}}`))
	for _, typ := range []string{"NFD", "NFKC", "NFKD"} {
		f.Add([]byte(`{"normalizer":{"type":"` + typ + `"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`))
	}
	f.Add([]byte(`null`))
	f.Add([]byte(`{"model":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		tk, err := Load(data)
		if err != nil {
			return
		}
		for _, s := range []string{"", "a b", "aaa <s> a", "\xff A\n"} {
			ids, err := tk.Encode(s, true)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tk.Decode(ids, false); err != nil {
				t.Fatalf("Decode of Encode output: %v", err)
			}
			st := tk.NewStream(false)
			for _, id := range ids {
				if _, err := st.Push(id); err != nil {
					t.Fatalf("Push: %v", err)
				}
			}
			st.Flush()
		}
	})
}

// FuzzEncodeDecode checks with the SmolLM2 tokenizer that any valid UTF-8
// text survives Encode then Decode unchanged, that streaming decode equals
// Decode, and that invalid UTF-8 does not panic.
func FuzzEncodeDecode(f *testing.F) {
	tk := load(f, smolLM2)
	for _, s := range []string{"", "Hello world", "I'm here  \n\n x", "<|im_start|>user\nhi<|im_end|>",
		"🤗 ZWJ 👨\u200d👩\u200d👧", "12345 3.14", "\x00\x1b[0m", "\xff\xfe", "日本語 ١٢٣", "<|im_start", "  trailing  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := tk.Encode(s, true)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tk.Decode(ids, false)
		if err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) && representable(tk, s) && got != s {
			t.Fatalf("round trip %q -> %q (ids %v)", s, got, ids)
		}
		if st := streamAll(t, tk, ids, false); st != got {
			t.Fatalf("stream %q != decode %q", st, got)
		}
		if skip, _ := tk.Decode(ids, true); streamAll(t, tk, ids, true) != skip {
			t.Fatalf("stream (skip special) != decode")
		}
	})
}

// representable reports whether every byte of s has its byte-level
// character in the vocabulary (SmolLM2 lacks a few control bytes, which BPE
// without byte_fallback or unk_token drops, as the HF library does).
func representable(tk *Tokenizer, s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := tk.model.vocab[byteLevelStr[s[i]]]; !ok {
			return false
		}
	}
	return true
}

// FuzzStreamIDs pushes arbitrary id sequences (including lone byte pieces)
// through a Stream and compares with Decode.
func FuzzStreamIDs(f *testing.F) {
	tks := []*Tokenizer{load(f, smolLM2), load(f, tinyLlama)}
	f.Add([]byte{0xE2, 0x82, 0xAC, 0x41}, false)
	f.Add([]byte{1, 200, 3, 250, 251, 7}, true)
	f.Add([]byte{}, false)
	f.Add([]byte("00000\xdb"), true) // "-" then a lone lead byte: the group decodes to two U+FFFD
	f.Fuzz(func(t *testing.T, raw []byte, llama bool) {
		if len(raw) > 200 {
			return
		}
		tk := tks[0]
		base := 0
		if llama {
			tk, base = tks[1], 0
		}
		ids := make([]int, 0, len(raw)/2)
		for i := 0; i+1 < len(raw); i += 2 {
			ids = append(ids, base+(int(raw[i])<<8|int(raw[i+1]))%tk.VocabSize())
		}
		for i, b := range raw {
			if i%5 == 0 {
				ids = append(ids, int(b)) // low ids: specials and byte pieces
			}
		}
		want, err := tk.Decode(ids, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := streamAll(t, tk, ids, false); got != want {
			t.Fatalf("stream %q != decode %q for %v", got, want, ids)
		}
	})
}

// FuzzEncodeDecodeNFC checks with the Qwen3 and Gemma 3 tokenizers that
// valid UTF-8 text survives Encode then Decode up to the normalizer (NFC for
// Qwen3; Gemma maps " " to "▁" and back, so a literal "▁" decodes to a
// space), and that streaming decode equals Decode.
func FuzzEncodeDecodeNFC(f *testing.F) {
	tks := []*Tokenizer{load(f, qwen3), load(f, gemma3)}
	for _, s := range []string{"", "e\u0301 \u212B \u1100\u1161", "<think>x</think>", "<start_of_turn>user\nhi",
		"a>  </b", "<think>\u0338", "\u0EB9\u0EBA a\u1DFA\u0301", "\t\t\n\n\n  x", "\U000E0067 \uFFFF \x00", "１２３ ١٢٣", "▁▁a"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, gemma bool) {
		if !utf8.ValidString(s) || len(s) > 1000 {
			return
		}
		nfc := unicodeNormalizer{norm.NFC}
		tk, want := tks[0], nfc.normalize(s)
		if gemma {
			tk, want = tks[1], strings.ReplaceAll(s, "▁", " ")
		}
		ids, err := tk.Encode(s, false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tk.Decode(ids, false)
		if err != nil {
			t.Fatal(err)
		}
		// Added tokens are matched before normalization, so NFC does not
		// compose across their ends ("<think>" + U+0338 stays apart).
		if got != want && nfc.normalize(got) != want {
			t.Fatalf("round trip %q -> %q, want %q (ids %v)", s, got, want, ids)
		}
		if st := streamAll(t, tk, ids, false); st != got {
			t.Fatalf("stream %q != decode %q", st, got)
		}
	})
}
