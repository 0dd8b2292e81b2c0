package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/tokenizer"
)

func init() {
	register("tokenize", "print the token ids of a text (or decode ids) with a model's tokenizer", false, runTokenize)
}

func runTokenize(args []string) error {
	fs := newFlags("tokenize", "(--model FILE.cellm | --tokenizer tokenizer.json) (--text S | --decode 1,2,3)")
	model := fs.String("model", "", ".cellm `file` (or hub name org/name) whose embedded tokenizer.json to use")
	alias(fs, "model", "m")
	tokPath := fs.String("tokenizer", "", "tokenizer.json `file` (overrides --model)")
	text := fs.String("text", "", "text to encode")
	alias(fs, "text", "p", "prompt")
	decode := fs.String("decode", "", "comma-separated ids to decode")
	noSpecial := fs.Bool("no-special", false, "do not add special tokens (BOS, ...) when encoding; skip them when decoding")
	if err := parse(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	hasText := set["text"] || set["p"] || set["prompt"]
	switch {
	case hasText && set["decode"]:
		return fmt.Errorf("give --text or --decode, not both")
	case !hasText && !set["decode"]:
		return fmt.Errorf("--text TEXT (to encode) or --decode 1,2,3 is required")
	}
	tok, err := loadTokenizer(*model, *tokPath)
	if err != nil {
		return err
	}
	if *decode != "" {
		ids, err := parseIDs(*decode)
		if err != nil {
			return fmt.Errorf("--decode: %w", err)
		}
		s, err := tok.Decode(ids, *noSpecial)
		if err != nil {
			return err
		}
		fmt.Println(s)
		return nil
	}
	ids, err := tok.Encode(*text, !*noSpecial)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(ids)
}

// loadTokenizer reads tokenizer.json from path, or else from the .cellm model.
func loadTokenizer(model, path string) (*tokenizer.Tokenizer, error) {
	if path != "" {
		return tokenizer.LoadFile(path)
	}
	if model == "" {
		return nil, fmt.Errorf("--model (-m) or --tokenizer is required")
	}
	model, err := resolveModel(model)
	if err != nil {
		return nil, err
	}
	f, err := format.Open(model)
	if err != nil {
		return nil, convertHint(model, err)
	}
	defer f.Close()
	data, ok := f.Asset("tokenizer.json")
	if !ok {
		return nil, fmt.Errorf("%s has no embedded tokenizer.json; pass --tokenizer", model)
	}
	t, err := tokenizer.Load(data)
	if err != nil {
		return nil, fmt.Errorf("%s: tokenizer.json: %w", model, err)
	}
	return t, nil
}

// parseIDs parses "1,2,3".
func parseIDs(s string) ([]int, error) {
	var ids []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad token id %q", f)
		}
		ids = append(ids, n)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no token ids")
	}
	return ids, nil
}
