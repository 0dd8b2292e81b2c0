package tokenizer

import "testing"

// BenchmarkEncode measures encoding throughput (MB/s) of English text.
func BenchmarkEncode(b *testing.B) {
	text := string(readEval(b))
	for _, name := range modelNames {
		tk := load(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if _, err := tk.Encode(text, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeUncached measures encoding with an empty word cache.
func BenchmarkEncodeUncached(b *testing.B) {
	text := string(readEval(b))[:34000]
	tk := load(b, smolLM2)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tk.model.cacheBL.reset()
		if _, err := tk.Encode(text, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode measures decoding throughput (MB of text out).
func BenchmarkDecode(b *testing.B) {
	text := string(readEval(b))
	for _, name := range modelNames {
		tk := load(b, name)
		ids, _ := tk.Encode(text, false)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if _, err := tk.Decode(ids, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStream measures per-token streaming decode.
func BenchmarkStream(b *testing.B) {
	text := string(readEval(b))[:4000]
	tk := load(b, smolLM2)
	ids, _ := tk.Encode(text, false)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		st := tk.NewStream(false)
		for _, id := range ids {
			if _, err := st.Push(id); err != nil {
				b.Fatal(err)
			}
		}
		st.Flush()
	}
}

// BenchmarkLoad measures parsing of the tokenizer.json files.
func BenchmarkLoad(b *testing.B) {
	for _, name := range modelNames {
		data := tokenizerJSON(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Load(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
