package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
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
