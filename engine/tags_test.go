package engine_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/engine"
	"github.com/cellm-ai/cellm-go/models"
)

// TestPrefillTagged: positions computed from caller embeddings are reused
// by a later prompt whose rows carry the same tags (and only then), with
// the logits of computing everything again.
func TestPrefillTagged(t *testing.T) {
	d := tinyF32(t)
	spec := d.Spec()
	rng := rand.New(rand.NewPCG(3, 4))
	ids := randIDs(rng, 30, spec.Vocab)
	x := make([]float32, len(ids)*spec.Hidden)
	if err := d.Embed(x, ids); err != nil {
		t.Fatal(err)
	}
	tags := make([]uint64, len(ids))
	for i := 8; i < 20; i++ { // rows 8..19 stand for spliced image features
		for j := range spec.Hidden {
			x[i*spec.Hidden+j] = float32(rng.NormFloat64())
		}
		tags[i] = uint64(1000 + i)
	}
	e := newEngine(t, d, engine.Options{})
	logits := make([]float32, spec.Vocab)
	s := e.NewSession()
	defer s.Close()
	if _, err := s.PrefillTagged(ids[:25], x[:25*spec.Hidden], tags[:25], nil); err != nil {
		t.Fatal(err)
	}
	reused, err := s.PrefillTagged(ids, x, tags, logits)
	if err != nil {
		t.Fatal(err)
	}
	if reused != 25 {
		t.Errorf("same tags: reused %d positions, want 25", reused)
	}
	fresh := e.NewSession()
	defer fresh.Close()
	want := make([]float32, spec.Vocab)
	if _, err := fresh.PrefillTagged(ids, x, tags, want); err != nil {
		t.Fatal(err)
	}
	if diff := maxDiff(logits, want); diff > 1e-5 {
		t.Errorf("reused tagged positions: logits differ by %g from computing all", diff)
	}
	// A different row at position 12 (another image) stops the reuse there.
	other := append([]uint64(nil), tags...)
	other[12]++
	if reused, err = s.PrefillTagged(ids, x, other, nil); err != nil || reused != 12 {
		t.Errorf("tag changed at 12: reused %d (err %v), want 12", reused, err)
	}
	// Untagged embeddings are never matched; id-only prompts match only
	// the untagged-row positions before the first feature.
	if _, err := s.PrefillTagged(ids, x, tags, nil); err != nil {
		t.Fatal(err)
	}
	if got := s.Reusable(ids); got != 8 {
		t.Errorf("ids alone: %d reusable positions, want 8", got)
	}
	if reused, err = s.Prefill(ids, x, nil); err != nil || reused != 0 {
		t.Errorf("untagged embeddings: reused %d (err %v), want 0", reused, err)
	}
	if _, err := s.PrefillTagged(ids, x, tags[:3], nil); !errors.Is(err, models.ErrBadInput) {
		t.Errorf("3 tags for %d ids: err %v", len(ids), err)
	}
	if _, err := s.PrefillTagged(ids, nil, tags, nil); !errors.Is(err, models.ErrBadInput) {
		t.Errorf("tags without embeddings: err %v", err)
	}
}
