package cellm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cellm-ai/cellm-go/chat"
)

// A Session reuses the positions of a VLM prompt whose embeddings are
// unchanged (the same images in earlier turns), and only those: with another
// image in their place (the same token ids) everything from the image on is
// computed again. Each turn generates what a fresh generation does.
func TestVLMSessionReuse(t *testing.T) {
	m := tinyVLM(t)
	bird, err := os.ReadFile(filepath.Join("imageproc", "testdata", "bird.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	noSplit := false
	other, err := m.PreprocessImages([][]byte{bird}, &noSplit, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range other.Pixels {
		other.Pixels[i] = -other.Pixels[i] // same shape and tokens, other features
	}
	birdBatch, err := m.PreprocessImages([][]byte{bird}, &noSplit, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := m.NewSession()
	defer s.Close()
	ask := func(msgs []chat.Message, b *Request) *Result {
		t.Helper()
		req := *b
		req.Messages, req.MaxNewTokens, req.IgnoreEOS = msgs, 4, true
		got, err := s.Generate(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.Generate(ctx, req, nil) // a session of its own
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Tokens, want.Tokens) {
			t.Errorf("session generated %v, a fresh generation %v", got.Tokens, want.Tokens)
		}
		return got
	}
	turn1 := []chat.Message{{Role: "user", Content: "What is it?", Images: 1}}
	first := ask(turn1, &Request{ImageBatch: birdBatch})
	turn2 := append(turn1, chat.Message{Role: "assistant", Content: first.Text}, chat.Message{Role: "user", Content: "Sure?"})
	second := ask(turn2, &Request{ImageBatch: birdBatch})
	if r := second.Stats.ReusedTokens; r < len(first.PromptIDs)-1 || r >= len(second.PromptIDs) {
		t.Errorf("same image: reused %d of %d positions, the first prompt had %d", r, len(second.PromptIDs), len(first.PromptIDs))
	}
	firstImage := slices.Index(second.PromptIDs, m.imageTokenID)
	third := ask(turn2, &Request{ImageBatch: other})
	if !slices.Equal(third.PromptIDs, second.PromptIDs) {
		t.Fatal("another image of the same size changed the prompt ids")
	}
	if r := third.Stats.ReusedTokens; r > firstImage {
		t.Errorf("another image: reused %d positions, past the first image token at %d", r, firstImage)
	}
}
