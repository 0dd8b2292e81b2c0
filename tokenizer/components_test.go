package tokenizer

import (
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func splitWith(m matcher, s string) []string {
	var out []string
	prev := 0
	for _, r := range m.appendMatches(nil, s) {
		if r[0] != prev {
			out = append(out, "GAP:"+s[prev:r[0]])
		}
		out = append(out, s[r[0]:r[1]])
		prev = r[1]
	}
	if prev != len(s) {
		out = append(out, "GAP:"+s[prev:])
	}
	return out
}

// TestLlama3Splitter checks the hand-written Llama 3 pattern against splits
// derived from the regex semantics (leftmost alternative wins, greedy
// quantifiers with backtracking, Unicode \s, \p{L}, \p{N}).
func TestLlama3Splitter(t *testing.T) {
	m, ok := regexMatcher(patLlama3)
	if !ok {
		t.Fatal("Llama 3 pattern not recognised")
	}
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"I'm here", []string{"I", "'m", " here"}},
		{"DON'T we'LL it'Ve", []string{"DON", "'T", " we", "'LL", " it", "'Ve"}},
		{"don't", []string{"don", "'t"}},
		{"'hello", []string{"'hello"}}, // not a contraction: ' joins the letters
		{"'s'", []string{"'s", "'"}},   // contraction wins over the longer alternative
		{"it'ſ", []string{"it", "'ſ"}}, // ſ case-folds to s
		{"12345678", []string{"123", "456", "78"}},
		{"abc123def", []string{"abc", "123", "def"}},
		{"٣٤٥٦", []string{"٣٤٥", "٦"}}, // Arabic-Indic digits are \p{N}
		{"½¾", []string{"½¾"}},
		{"1.5", []string{"1", ".", "5"}},
		{"$100", []string{"$", "100"}},
		{"x = 1;", []string{"x", " =", " ", "1", ";"}},
		{"hello\n\nworld", []string{"hello", "\n\n", "world"}},
		{"a  \n  b", []string{"a", "  \n", " ", " b"}},
		{"x\r\ny", []string{"x", "\r\n", "y"}},
		{"hi \n", []string{"hi", " \n"}},
		{"...\n\nnext", []string{"...\n\n", "next"}},
		{"(hello) world", []string{"(hello", ")", " world"}},
		{"trailing   ", []string{"trailing", "   "}},
		{"  leading", []string{" ", " leading"}},
		{"hi  ", []string{"hi", "  "}},
		{"\tindent", []string{"\tindent"}},
		{"a\u00a0b", []string{"a", "\u00a0b"}}, // NBSP is not \r\n, so it joins the word
		{"Привет мир", []string{"Привет", " мир"}},
		{"naïve café", []string{"naïve", " café"}},
		{"日本語テキスト", []string{"日本語テキスト"}},
		{"a\n", []string{"a", "\n"}},
		{" ", []string{" "}},
		{"🤗🤗 ok", []string{"🤗🤗", " ok"}},
		{"!!\r\n\r\nx", []string{"!!\r\n\r\n", "x"}},
	} {
		if got := splitWith(m, c.in); !slices.Equal(got, c.want) {
			t.Errorf("split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	q, _ := regexMatcher(patQwen2)
	if got := splitWith(q, "12345"); !slices.Equal(got, []string{"1", "2", "3", "4", "5"}) {
		t.Errorf("Qwen2 digits: %q", got)
	}
}

func TestGPT2Splitter(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"I'm DON'T", []string{"I", "'m", " DON", "'", "T"}}, // case-sensitive contractions
		{"a   b", []string{"a", "  ", " b"}},
		{"a  \nb", []string{"a", "  ", "\n", "b"}},
		{"x 123 !!", []string{"x", " 123", " !!"}},
		{"end  ", []string{"end", "  "}},
		{"'hello", []string{"'", "hello"}},
	} {
		if got := splitWith(gpt2Matcher{}, c.in); !slices.Equal(got, c.want) {
			t.Errorf("split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func loadLlama3Style(t testing.TB) *Tokenizer {
	t.Helper()
	data, err := os.ReadFile(testdata(t, "llama3-style.tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestLlama3StyleTokenizer runs a small hand-written Llama 3 style
// tokenizer.json: Split(Llama 3 regex) + ByteLevel(use_regex false),
// ignore_merges, array merges, Sequence[ByteLevel, TemplateProcessing].
func TestLlama3StyleTokenizer(t *testing.T) {
	tk := loadLlama3Style(t)
	bos, eot := 262, 263
	for _, c := range []struct {
		in      string
		special bool
		want    []int
	}{
		{"hi hi", false, []int{'h', 'i', 257}},                    // "Ġhi" by merges
		{"hi hi", true, []int{bos, 'h', 'i', 257}},                // template adds BOS
		{"it's 1234", false, []int{'i', 't', 258, ' ', 260, '4'}}, // "it", "'s", " ", "123", "4"
		{"abc", false, []int{261}},                                // ignore_merges: whole word in vocab
		{"abcabc", false, []int{'a', 'b', 'c', 'a', 'b', 'c'}},
		{"<|eot_id|>hi", true, []int{bos, eot, 'h', 'i'}},
		{"", true, []int{bos}},
	} {
		got, err := tk.Encode(c.in, c.special)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q, %v) = %v, want %v", c.in, c.special, got, c.want)
		}
	}
	for _, s := range []string{"Hello, World!\n\n  It's 2024 — naïve 日本語\r\n", "x  ", "🤗 'S"} {
		ids, _ := tk.Encode(s, true)
		if got, _ := tk.Decode(ids, true); got != s {
			t.Errorf("round trip %q -> %q", s, got)
		}
		if got, _ := tk.Decode(ids, false); got != "<|begin_of_text|>"+s {
			t.Errorf("decode with specials %q", got)
		}
	}
}

// TestMergeAlgorithms checks that the array merge (short words) and the
// heap merge (long words) agree on random words.
func TestMergeAlgorithms(t *testing.T) {
	for _, name := range []string{smolLM2, tinyLlama} {
		tk := load(t, name)
		rng := rand.New(rand.NewSource(1))
		alphabet := []string{"a", "b", "e", "r", "t", "h", "▁", "Ġ", "s", "n"}
		for n := 0; n < 300; n++ {
			var sb strings.Builder
			l := 2 + rng.Intn(60)
			for i := 0; i < l; i++ {
				sb.WriteString(alphabet[rng.Intn(len(alphabet))])
			}
			w := sb.String()
			syms := tk.model.initialSymbols(w, nil)
			a := tk.model.mergeSmall(slices.Clone(syms))
			b := tk.model.mergeHeap(slices.Clone(syms))
			if !slices.Equal(a, b) {
				t.Fatalf("%s %q: small %v heap %v", name, w, a, b)
			}
		}
	}
}

// TestMetaSplit checks that cutting Llama 2 and Gemma style words before
// "▁" gives the same ids as merging the whole text at once, and that Gemma's
// one merged token with an inner "▁" (">▁</") keeps the cut from being made
// where it occurs.
func TestMetaSplit(t *testing.T) {
	for _, name := range []string{tinyLlama, gemma3} {
		t.Run(name, func(t *testing.T) {
			tk := load(t, name)
			if !tk.model.metaSplit {
				t.Fatal("vocabulary should allow cutting before ▁")
			}
			text := strings.ReplaceAll(string(readEval(t)[:6000]), " ", "▁")
			texts := []string{text, "▁▁▁a▁▁b", "x▁", "▁", "a▁▁▁▁▁▁▁▁▁▁b▁é▁▁🤗▁",
				"<p>▁</p>", "a>▁</b", "x>▁▁</y>▁</z", "<div>hello</div>▁</span>"}
			rng := rand.New(rand.NewSource(2))
			for i := 0; i < 300; i++ {
				var sb strings.Builder
				for j := rng.Intn(40); j > 0; j-- {
					sb.WriteString([]string{"▁", "a", "the", "é", "🤗", "x", "\n", ">", "</", "div"}[rng.Intn(10)])
				}
				texts = append(texts, sb.String())
			}
			m := tk.model
			for _, s := range texts {
				split := m.tokenize(piece{text: s, tok: -1}, nil)
				whole := m.mergeHeap(m.initialSymbols(s, nil))
				if !slices.Equal(split, int32sToInts(whole)) {
					t.Fatalf("%q: split %v, whole %v", s, split, whole)
				}
			}
			if name != gemma3 {
				return
			}
			if len(m.crossing) != 1 || m.crossing[0].tok != ">▁</" {
				t.Fatalf("crossing tokens %v, want [>▁</]", m.crossing)
			}
			// Without the guard the cut inside ">▁</" changes the ids.
			s := "a>▁</b"
			whole := int32sToInts(m.mergeHeap(m.initialSymbols(s, nil)))
			cut := append(int32sToInts(m.mergeHeap(m.initialSymbols("a>", nil))),
				int32sToInts(m.mergeHeap(m.initialSymbols("▁</b", nil)))...)
			if slices.Equal(whole, cut) {
				t.Errorf("%q: cutting before ▁ gives the same ids %v; pick a text where the guard matters", s, whole)
			}
		})
	}
}

func int32sToInts(a []int32) []int {
	out := make([]int, len(a))
	for i, v := range a {
		out[i] = int(v)
	}
	return out
}

func TestDecoders(t *testing.T) {
	for _, c := range []struct {
		name string
		d    decoder
		in   []string
		want []string
	}{
		{"metaspace", metaspaceDecoder{repl: '▁', stripHead: true}, []string{"▁▁a", "▁b"}, []string{"a", " b"}},
		{"metaspace never", metaspaceDecoder{repl: '▁'}, []string{"▁a", "▁b"}, []string{" a", " b"}},
		{"strip", stripDecoder{content: ' ', start: 1, stop: 1}, []string{"  a  ", " ", ""}, []string{" a ", "", ""}},
		{"strip start 2", stripDecoder{content: 'x', start: 2}, []string{"xxxa", "xa"}, []string{"xa", "a"}},
		{"fuse", fuseDecoder{}, []string{"a", "b"}, []string{"ab"}},
		{"byte fallback", byteFallbackDecoder{}, []string{"<0xE2>", "<0x82>", "<0xAC>", "x", "<0xE2>", "<0x82>", "y", "<0x+A>"},
			[]string{"€", "x", "\uFFFD", "\uFFFD", "y", "\n"}},
		{"byte fallback lowercase", byteFallbackDecoder{}, []string{"<0x0a>", "<0xZZ>"}, []string{"\n", "<0xZZ>"}},
		{"replace", replaceDecoder{"▁", " "}, []string{"▁a▁"}, []string{" a "}},
		{"bytelevel", byteLevelDecoder{}, []string{"Ġhi", "Ċ", "<|x|>", "é"}, []string{" hi\n<|x|>\uFFFD"}},
	} {
		if got := c.d.decodeChain(c.in); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestUnicodeNormalizerLoad checks that the four Unicode normalization forms
// load and run before the model.
func TestUnicodeNormalizerLoad(t *testing.T) {
	model := `"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"\u00e9":3,"e":4,"\u0301":5},"merges":["a b"]}`
	for _, c := range []struct {
		typ, in string
		want    []int
	}{
		{"NFC", "ab e\u0301", []int{2, 3}},
		{"NFD", "\u00e9", []int{4, 5}},
		{"NFKC", "\uff41\uff42", []int{2}},
		{"NFKD", "\uff41\u00e9", []int{0, 4, 5}},
	} {
		tk, err := Load([]byte(`{"normalizer":{"type":"` + c.typ + `"},` + model + `}`))
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		got, err := tk.Encode(c.in, false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Encode(%q) = %v, want %v", c.typ, c.in, got, c.want)
		}
	}
}

// TestUnicode9Table checks the generated table against the normalization
// library it was made from (regenerate with go run gen_unicode9.go when
// golang.org/x/text changes Unicode version).
func TestUnicode9Table(t *testing.T) {
	if norm.Version != unicodeVersionNorm {
		t.Fatalf("golang.org/x/text/unicode/norm is Unicode %s, unicode9.go was generated for %s: run go run gen_unicode9.go",
			norm.Version, unicodeVersionNorm)
	}
	prev := rune(-1)
	for _, rg := range newerThanUnicode9 {
		if rg[0] <= prev || rg[1] < rg[0] {
			t.Fatalf("range %X-%X out of order", rg[0], rg[1])
		}
		prev = rg[1]
		for r := rg[0]; r <= rg[1]; r++ {
			if i, n := indexNewerThanUnicode9("a" + string(r)); i != 1 || n != utf8.RuneLen(r) {
				t.Fatalf("U+%04X not found", r)
			}
		}
		for _, r := range []rune{rg[0] - 1, rg[1] + 1} {
			if i, _ := indexNewerThanUnicode9(string(r)); i >= 0 && (r < rg[0] || r > rg[1]) && !inNewer(r) {
				t.Fatalf("U+%04X found but not listed", r)
			}
		}
	}
	// The behaviour that makes the table necessary: newer normalization
	// reorders U+0EB9 U+0EBA.
	if norm.NFC.String("\u0EB9\u0EBA") == "\u0EB9\u0EBA" {
		t.Error("x/text no longer reorders U+0EB9 U+0EBA; check the test cases")
	}
}

func inNewer(r rune) bool {
	for _, rg := range newerThanUnicode9 {
		if rg[0] <= r && r <= rg[1] {
			return true
		}
	}
	return false
}

func TestNormalizers(t *testing.T) {
	for _, c := range []struct {
		n        normalizer
		in, want string
	}{
		{prependNormalizer{"▁"}, "a", "▁a"},
		{prependNormalizer{"▁"}, "", ""},
		{replaceNormalizer{" ", "▁"}, " a b ", "▁a▁b▁"},
		{lowercaseNormalizer{}, "HeLLo İ ÀΣ", "hello i\u0307 àσ"},
		{stripNormalizer{left: true, right: true}, " \t a \u3000", "a"},
		{stripNormalizer{left: true}, "  a ", "a "},
		{seqNormalizer{prependNormalizer{"▁"}, replaceNormalizer{" ", "▁"}}, "a b", "▁a▁b"},
		// Composition, singletons, Hangul jamo, canonical reordering and a
		// composition exclusion (U+0958 stays decomposed).
		{unicodeNormalizer{norm.NFC}, "e\u0301 \u212B \u1100\u1161 a\u0323\u0302 \u0958", "é Å 가 ậ \u0915\u093C"},
		{unicodeNormalizer{norm.NFC}, "plain ascii", "plain ascii"},
		{unicodeNormalizer{norm.NFD}, "é가", "e\u0301\u1100\u1161"},
		// Code points unassigned in Unicode 9.0 (the HF library's tables)
		// stay inert: no reordering of U+0EBA (Unicode 12, ccc 9) before
		// U+0EB9 (HF tokenizers 0.23.2 keeps this order), no composition
		// of Dives Akuru U+11935 U+11930 (Unicode 13), and U+1DFA (Unicode
		// 14) blocks a+U+0301; NFC still applies around them.
		{unicodeNormalizer{norm.NFC}, "\u0EB9\u0EBA", "\u0EB9\u0EBA"},
		{unicodeNormalizer{norm.NFC}, "e\u0301\U00011935\U00011930e\u0301", "é\U00011935\U00011930é"},
		{unicodeNormalizer{norm.NFC}, "a\u1DFA\u0301 a\u0301", "a\u1DFA\u0301 á"},
		{unicodeNormalizer{norm.NFD}, "\u1EA5\u0EBA\u0EB9", "a\u0302\u0301\u0EBA\u0EB9"},
		{unicodeNormalizer{norm.NFKC}, "ﬁ ① Ａ e\u0301", "fi 1 A é"},
		{unicodeNormalizer{norm.NFKD}, "ﬁé", "fie\u0301"},
	} {
		if got := c.n.normalize(c.in); got != c.want {
			t.Errorf("%T(%+q) = %+q, want %+q", c.n, c.in, got, c.want)
		}
	}
}

// TestSplitBehaviors checks the five HF split behaviours on "a1b22c".
func TestSplitBehaviors(t *testing.T) {
	m := classMatcher{cls: clsNumber}
	for _, c := range []struct {
		beh    behavior
		invert bool
		want   []string
	}{
		{behIsolated, false, []string{"a", "1", "b", "22", "c"}},
		{behRemoved, false, []string{"a", "b", "c"}},
		{behRemoved, true, []string{"1", "22"}},
		{behMergedWithPrevious, false, []string{"a1", "b22", "c"}},
		{behMergedWithNext, false, []string{"a", "1b", "22c"}},
		{behContiguous, false, []string{"a", "1", "b", "22", "c"}},
	} {
		var got []string
		for _, p := range splitPiece(&scratch{}, nil, piece{text: "a1b22c", tok: -1}, m, c.beh, c.invert) {
			got = append(got, p.text)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("behavior %d invert %v: %q, want %q", c.beh, c.invert, got, c.want)
		}
	}
	// Digits(individual=false) merges runs, Digits(true) isolates each digit.
	var got []string
	for _, p := range digitsPreTok(false).apply(&scratch{}, nil, []piece{{text: "ab123c4", tok: -1}}) {
		got = append(got, p.text)
	}
	if !slices.Equal(got, []string{"ab", "123", "c", "4"}) {
		t.Errorf("Digits contiguous: %q", got)
	}
}

func TestMetaspacePreTokenizer(t *testing.T) {
	for _, c := range []struct {
		m    metaspacePreTok
		in   piece
		want []string
	}{
		{metaspacePreTok{"▁", "always", true}, piece{text: "hi  there", tok: -1}, []string{"▁hi", "▁", "▁there"}},
		{metaspacePreTok{"▁", "first", true}, piece{text: "hi there", tok: -1, orig0: true}, []string{"▁hi", "▁there"}},
		{metaspacePreTok{"▁", "first", true}, piece{text: "hi there", tok: -1}, []string{"hi", "▁there"}},
		{metaspacePreTok{"▁", "never", false}, piece{text: "hi there", tok: -1}, []string{"hi▁there"}},
	} {
		var got []string
		for _, p := range c.m.apply(&scratch{}, nil, []piece{c.in}) {
			got = append(got, p.text)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v on %q: %q, want %q", c.m, c.in.text, got, c.want)
		}
	}
}

// TestAddedTokenOptions checks lstrip, rstrip and single_word matching.
func TestAddedTokenOptions(t *testing.T) {
	v := addedVocab{tokens: []addedToken{
		{content: "<mask>", id: 10, lstrip: true, rstrip: true},
		{content: "cat", id: 11, singleWord: true},
		{content: "<a>", id: 12},
		{content: "<ab>", id: 13},
	}}
	tr := newTrie()
	for k, a := range v.tokens {
		tr.insert(a.content, int32(k))
	}
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"x  <mask>  y", []string{"x", "#10:  <mask>  ", "y"}},
		{"cat concat cat_ cat.", []string{"#11:cat", " concat cat_ ", "#11:cat", "."}},
		{"<ab><a>", []string{"#13:<ab>", "#12:<a>"}}, // longest match first
		{"<a", []string{"<a"}},
	} {
		var got []string
		for _, p := range v.split(nil, c.in, true, tr) {
			if p.tok >= 0 {
				got = append(got, "#"+itoa(p.tok)+":"+p.text)
			} else {
				got = append(got, p.text)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// TestBPEOptions exercises byte_fallback, unk/fuse_unk,
// continuing_subword_prefix, end_of_word_suffix and string merges.
func TestBPEOptions(t *testing.T) {
	base := `{"model":{"type":"BPE","vocab":{"<unk>":0,"a":1,"b":2,"ab":3,"<0xC3>":4,"<0xA9>":5,"##b":6,"a##b":7,"b</w>":8,"ab</w>":9},
		"merges":%s,"unk_token":"<unk>","fuse_unk":%s,"byte_fallback":%s%s}}`
	for _, c := range []struct {
		name, merges, fuse, fallback, extra, in string
		want                                    []int
	}{
		{"merge", `["a b"]`, "false", "false", "", "ab", []int{3}},
		{"byte fallback", `["a b"]`, "false", "true", "", "aéb", []int{1, 4, 5, 2}},
		{"unk", `["a b"]`, "false", "false", "", "axyb", []int{1, 0, 0, 2}},
		{"fuse unk", `["a b"]`, "true", "false", "", "axyb", []int{1, 0, 2}},
		{"prefix", `[["a","##b"]]`, "false", "false", `,"continuing_subword_prefix":"##"`, "ab", []int{3}}, // merge of a + ##b is "ab"
		{"suffix", `["a b</w>"]`, "false", "false", `,"end_of_word_suffix":"</w>"`, "ab", []int{9}},
	} {
		data := []byte(sprintf(base, c.merges, c.fuse, c.fallback, c.extra))
		tk, err := Load(data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, _ := tk.Encode(c.in, false)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Encode(%q) = %v, want %v", c.name, c.in, got, c.want)
		}
	}
}

func sprintf(format string, args ...string) string {
	for _, a := range args {
		format = strings.Replace(format, "%s", a, 1)
	}
	return format
}

// TestLoadErrors checks that unsupported or malformed files are rejected
// with an error naming the problem.
func TestLoadErrors(t *testing.T) {
	model := `"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}`
	for _, c := range []struct{ json, want string }{
		{`not json`, "tokenizer.json"},
		{`{}`, "missing model"},
		{`{"model":{"type":"Unigram"}}`, `model type "Unigram" not supported`},
		{`{"pre_tokenizer":{"type":"Whitespace"},` + model + `}`, `pre_tokenizer type "Whitespace" not supported`},
		{`{"normalizer":{"type":"Precompiled"},` + model + `}`, `normalizer type "Precompiled" not supported`},
		{`{"decoder":{"type":"WordPiece"},` + model + `}`, `decoder type "WordPiece" not supported`},
		{`{"post_processor":{"type":"Weird"},` + model + `}`, `post_processor type "Weird" not supported`},
		{`{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\w+"},"behavior":"Isolated","invert":false},` + model + `}`, `regex pattern "\\w+" not supported`},
		{`{"pre_tokenizer":{"type":"Split","pattern":{"String":" "},"behavior":"Sideways","invert":false},` + model + `}`, `behavior "Sideways"`},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]}}`, "merges[0]"},
		{`{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]}}`, `merged token "ab"`},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b c"]}}`, "two tokens"},
		{`{"model":{"type":"BPE","vocab":{"a":-4},"merges":[]}}`, "invalid id"},
		{`{"model":{"type":"BPE","vocab":{"a":99999999999},"merges":[]}}`, "invalid id"},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"unk_token":"<unk>"}}`, `unk_token "<unk>"`},
		{`{"model":{"type":"BPE","vocab":{"a":16000000},"merges":[]}}`, "too sparse"},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":[["a"]]}}`, "pair of strings"},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":[1]}}`, "merges"},
		{`{"model":{"type":"BPE","vocab":["a"],"merges":[]}}`, "vocab"},
		{`{"added_tokens":{},` + model + `}`, "tokenizer.json"},
		{`{"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Punctuation"}]},` + model + `}`, `"Punctuation"`},
		{`{"pre_tokenizer":{"kind":"ByteLevel"},` + model + `}`, `missing or invalid "type"`},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"dropout":0.1}}`, "dropout"},
		{`{"truncation":{"max_length":5},` + model + `}`, "truncation"},
		{`{"version":"2.0",` + model + `}`, "version"},
		{`{"decoder":{"type":"Strip","content":"ab","start":1,"stop":0},` + model + `}`, "Strip content"},
		{`{"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"sometimes"},` + model + `}`, "prepend_scheme"},
		{`{"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}}],"special_tokens":{}},` + model + `}`, `"<s>" missing`},
		{`{"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}}],"special_tokens":{"<s>":{"id":"<s>","ids":[77],"tokens":["<s>"]}}},` + model + `}`, "id 77"},
		{`{"normalizer":{"type":"Replace","pattern":{"Regex":" +"},"content":"x"},` + model + `}`, "Replace regex"},
	} {
		_, err := Load([]byte(c.json))
		if err == nil {
			t.Errorf("Load(%s): no error", c.json)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%s): error %q does not mention %q", c.json, err, c.want)
		}
	}
}

// TestMetaspaceRobertaPipeline loads a small Metaspace tokenizer with a
// Strip/Lowercase/Replace normalizer, a normalized added token and
// RobertaProcessing, and checks ids and decodes derived by hand from the HF
// semantics.
func TestMetaspaceRobertaPipeline(t *testing.T) {
	js := `{
	"added_tokens": [
		{"id": 0, "content": "<s>", "special": true, "normalized": false},
		{"id": 1, "content": "</s>", "special": true, "normalized": false},
		{"id": 15, "content": "[MASK]", "special": false, "normalized": true}],
	"normalizer": {"type": "Sequence", "normalizers": [
		{"type": "Strip", "strip_left": true, "strip_right": true},
		{"type": "Lowercase"},
		{"type": "Replace", "pattern": {"String": "!"}, "content": ""}]},
	"pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
	"post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 1], "cls": ["<s>", 0], "trim_offsets": true, "add_prefix_space": true},
	"decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
	"model": {"type": "BPE", "vocab": {"<s>": 0, "</s>": 1, "▁": 2, "h": 3, "e": 4, "l": 5, "o": 6, "w": 7,
		"r": 8, "d": 9, "▁h": 10, "▁he": 11, "ll": 12, "▁hell": 13, "▁hello": 14},
		"merges": ["▁ h", "▁h e", "l l", "▁he ll", "▁hell o"]}}`
	tk, err := Load([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := tk.Encode("  HELLO [MASK] hello! ", true)
	if want := []int{0, 14, 2, 15, 14, 1}; !slices.Equal(ids, want) {
		t.Fatalf("Encode = %v, want %v", ids, want)
	}
	if s, _ := tk.Decode(ids, false); s != "<s> hello [mask] hello</s>" {
		t.Errorf("Decode = %q", s)
	}
	if s, _ := tk.Decode(ids, true); s != "hello [mask] hello" {
		t.Errorf("Decode(skip) = %q", s)
	}
	if !tk.IsSpecial(0) || tk.IsSpecial(15) {
		t.Error("IsSpecial wrong")
	}
	if id, ok := tk.TokenToID("[MASK]"); !ok || id != 15 {
		t.Errorf("TokenToID([MASK]) = %d %v", id, ok)
	}
	if s, ok := tk.IDToToken(15); !ok || s != "[mask]" {
		t.Errorf("IDToToken(15) = %q %v, want the normalized form", s, ok)
	}
	if tk.VocabSize() != 16 {
		t.Errorf("VocabSize = %d", tk.VocabSize())
	}
	if ids, _ := tk.Encode("hello", false); !slices.Equal(ids, []int{14}) {
		t.Errorf("Encode(hello) = %v", ids)
	}
}

// TestNumberMatcher checks the ASCII fast path against unicode.IsNumber.
func TestNumberMatcher(t *testing.T) {
	var sb strings.Builder
	for r := rune(0); r < 0x3000; r++ {
		sb.WriteRune(r)
	}
	s := sb.String()
	var want [][2]int
	for i, r := range s {
		if unicode.IsNumber(r) {
			want = append(want, [2]int{i, i + utf8.RuneLen(r)})
		}
	}
	if got := (numberMatcher{}).appendMatches(nil, s); !slices.Equal(got, want) {
		t.Errorf("numberMatcher: %d matches, want %d", len(got), len(want))
	}
}

// TestMetaSplitByteMerges: a merge of byte-fallback pieces with "▁" cannot
// be found in the text, so words are then never cut.
func TestMetaSplitByteMerges(t *testing.T) {
	for _, c := range []struct {
		merges string
		split  bool
		nCross int
	}{
		{`[]`, true, 0},
		{`[["a","▁"]]`, true, 1},
		{`[["<0xE2>","▁"]]`, false, 0},
	} {
		tk, err := Load([]byte(`{"model":{"type":"BPE","byte_fallback":true,"vocab":{"<unk>":0,"▁":1,"a":2,"<0xE2>":3,"a▁":4,"<0xE2>▁":5},` +
			`"merges":` + c.merges + `,"unk_token":"<unk>"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if tk.model.metaSplit != c.split || len(tk.model.crossing) != c.nCross {
			t.Errorf("merges %s: metaSplit %v with %d crossing tokens, want %v with %d",
				c.merges, tk.model.metaSplit, len(tk.model.crossing), c.split, c.nCross)
		}
	}
}
