package idefics3

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestSplice(t *testing.T) {
	const img = 9
	for _, tc := range []struct {
		name     string
		ids      []int
		features []float32
		hidden   int
		want     []float32 // embeds after, starting from row i = [i, i]
		err      string
	}{
		{"two rows", []int{1, img, 2, img}, []float32{10, 11, 20, 21}, 2, []float32{0, 0, 10, 11, 2, 2, 20, 21}, ""},
		{"no images", []int{1, 2}, nil, 2, []float32{0, 0, 1, 1}, ""},
		{"too few rows", []int{img, img}, []float32{10, 11}, 2, nil, "2 image tokens (id 9) but 1 image feature rows"},
		{"ragged features", []int{img}, []float32{10, 11, 12}, 2, nil, "not rows of hidden size 2"},
		{"bad hidden", []int{img}, nil, 0, nil, "hidden size 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := max(tc.hidden, 1)
			emb := make([]float32, len(tc.ids)*h)
			for i := range emb {
				emb[i] = float32(i / h)
			}
			err := Splice(emb, tc.ids, img, tc.features, tc.hidden)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(emb, tc.want) {
				t.Fatalf("embeds = %v, want %v", emb, tc.want)
			}
		})
	}
	if err := Splice(make([]float32, 3), []int{1, 2}, img, nil, 2); err == nil {
		t.Fatal("embeds of the wrong length: no error")
	}
}

func ExampleSplice() {
	const imageToken = 49190
	ids := []int{1, imageToken, imageToken, 2}
	embeds := make([]float32, len(ids)*2) // hidden size 2
	features := []float32{0.5, 0.5, 0.25, 0.25}
	if err := Splice(embeds, ids, imageToken, features, 2); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(embeds)
	// Output: [0 0 0.5 0.5 0.25 0.25 0 0]
}
