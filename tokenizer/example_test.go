package tokenizer_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/cellm-ai/cellm-go/tokenizer"
)

// A tiny tokenizer.json: byte-level BPE with one merge and a BOS template.
const tinyJSON = `{
  "added_tokens": [{"id": 4, "content": "<s>", "special": true, "normalized": false}],
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "special_tokens": {"<s>": {"id": "<s>", "ids": [4], "tokens": ["<s>"]}}},
  "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "vocab": {"h": 0, "i": 1, "Ġ": 2, "hi": 3}, "merges": ["h i"]}
}`

func Example() {
	tk, err := tokenizer.Load([]byte(tinyJSON))
	if err != nil {
		log.Fatal(err)
	}
	ids, err := tk.Encode("hi hi", true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ids)
	text, _ := tk.Decode(ids, false)
	fmt.Printf("%q\n", text)
	text, _ = tk.Decode(ids, true)
	fmt.Printf("%q\n", text)
	// Output:
	// [4 3 2 3]
	// "<s>hi hi"
	// "hi hi"
}

func ExampleStream() {
	tk, err := tokenizer.Load([]byte(tinyJSON))
	if err != nil {
		log.Fatal(err)
	}
	st := tk.NewStream(true)
	var out strings.Builder
	for _, id := range []int{4, 3, 2, 3} { // as a model would generate them
		chunk, err := st.Push(id)
		if err != nil {
			log.Fatal(err)
		}
		out.WriteString(chunk)
	}
	out.WriteString(st.Flush())
	fmt.Printf("%q\n", out.String())
	// Output: "hi hi"
}
