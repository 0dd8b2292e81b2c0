package cellm

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
)

// TestSessionMultiTurn: a chat whose session keeps its KV cache generates
// what re-running the whole history in a fresh generation generates, while
// prefilling only the new tail of each turn.
func TestSessionMultiTurn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro-f32.cellm")
	if _, err := convert.Convert(filepath.Join("testdata", "pretrained-micro"), path, convert.Options{DType: format.F32}); err != nil {
		t.Fatal(err)
	}
	m, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	s := m.NewSession()
	defer s.Close()
	var history []chat.Message
	prevTokens := 0 // prompt plus reply tokens of the previous turn
	for turn, q := range []string{"What is a list?", "And a tuple?", "How do I sort it?"} {
		history = append(history, chat.Message{Role: "user", Content: q})
		req := Request{Messages: history, MaxNewTokens: 10}
		got, err := s.Generate(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := Open(path, nil) // a fresh KV pool: nothing computed before is reused
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Generate(ctx, req, nil)
		ref.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want.Stats.ReusedTokens != 0 {
			t.Fatalf("turn %d: the reference reused %d positions", turn, want.Stats.ReusedTokens)
		}
		if !slices.Equal(got.Tokens, want.Tokens) || got.Text != want.Text {
			t.Errorf("turn %d: session generated %v %q, a fresh generation %v %q", turn, got.Tokens, got.Text, want.Tokens, want.Text)
		}
		reused := got.Stats.ReusedTokens
		if turn > 0 && (reused == 0 || reused > prevTokens || reused >= len(got.PromptIDs)) {
			t.Errorf("turn %d: reused %d positions (previous turn held %d, prompt %d)", turn, reused, prevTokens, len(got.PromptIDs))
		}
		t.Logf("turn %d: prompt %d tokens, %d reused", turn, len(got.PromptIDs), reused)
		prevTokens = len(got.PromptIDs) + len(got.Tokens)
		history = append(history, chat.Message{Role: "assistant", Content: got.Text})
	}
}
