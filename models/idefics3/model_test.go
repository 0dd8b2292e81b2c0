package idefics3

import (
	"encoding/json"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"os"
	"path/filepath"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/npy"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

type mmCase struct {
	Name        string `json:"name"`
	PixelValues struct {
		File  string `json:"file"`
		Shape []int  `json:"shape"`
	} `json:"pixel_values"`
	InputIDs   []int `json:"input_ids"`
	LastLogits struct {
		File string `json:"file"`
		Row  int    `json:"row"`
	} `json:"last_logits"`
	Greedy struct {
		NewTokens []int `json:"new_tokens"`
		Steps     []struct {
			Top [][2]float64 `json:"top"`
		} `json:"steps"`
	} `json:"greedy"`
}

// The whole multimodal path (vision, connector, splicing, prefill from
// embeddings, cached decode) reproduces transformers' logits and greedy tokens.
func TestMultimodalParity(t *testing.T) {
	for _, model := range vlmFixtures {
		t.Run(model, func(t *testing.T) { checkMultimodalParity(t, model) })
	}
}

func checkMultimodalParity(t *testing.T, model string) {
	f := openFixtureOf(t, model, format.F32)
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if m.TokensPerImage != 4 || m.ImageTokenID != 49190 {
		t.Fatalf("tokens per image %d, image token %d", m.TokensPerImage, m.ImageTokenID)
	}
	ref := testutil.Fixture(t, model, "reference")
	raw, err := os.ReadFile(filepath.Join(ref, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Multimodal []mmCase `json:"multimodal"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	logitsRef, err := npy.Read(filepath.Join(ref, "logits_last.npy"))
	if err != nil {
		t.Fatal(err)
	}
	vocab := logitsRef.Shape[1]
	for _, c := range r.Multimodal {
		t.Run(c.Name, func(t *testing.T) {
			pixels, err := npy.ReadRawF32(filepath.Join(ref, c.PixelValues.File))
			if err != nil {
				t.Fatal(err)
			}
			n := c.PixelValues.Shape[1]
			var calls []int
			timing := Timing{OnTile: func(done, total int) {
				if total != n {
					t.Errorf("progress total %d, want %d", total, n)
				}
				calls = append(calls, done)
			}}
			feats, err := m.ImageFeatures(pixels, nil, n, &timing)
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) != n || calls[n-1] != n {
				t.Errorf("progress calls %v for %d tiles", calls, n)
			}
			x, err := m.EmbedPrompt(c.InputIDs, feats)
			if err != nil {
				t.Fatal(err)
			}
			s := m.Text.NewState(len(c.InputIDs) + len(c.Greedy.NewTokens))
			logits := make([]float32, vocab)
			if err := m.Text.ForwardEmbeddings(s, x, len(c.InputIDs), logits, false); err != nil {
				t.Fatal(err)
			}
			want := logitsRef.Data[c.LastLogits.Row*vocab : (c.LastLogits.Row+1)*vocab]
			r := numcheck.Close(t, "last logits", logits, want, numcheck.Tol{Abs: 1e-4})
			t.Logf("last logits: %v", r)
			for k, tok := range c.Greedy.NewTokens {
				for _, top := range c.Greedy.Steps[k].Top {
					if d := numcheck.Diff(float64(logits[int(top[0])]), top[1]); d > 1e-4 {
						t.Fatalf("step %d: logit of %d off by %.3g", k, int(top[0]), d)
					}
				}
				best := 0
				for i, v := range logits {
					if v > logits[best] {
						best = i
					}
				}
				if best != tok {
					t.Fatalf("step %d: greedy token %d, want %d", k, best, tok)
				}
				if err := m.Text.Forward(s, []int{tok}, logits, false); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestEmbedPromptMismatch(t *testing.T) {
	f := openFixture(t, format.F16)
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	feats := make([]float32, 4*64)
	if _, err := m.EmbedPrompt([]int{1, 49190, 2}, feats); err == nil {
		t.Error("1 <image> token for 4 feature rows accepted")
	}
}
