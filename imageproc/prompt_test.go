package imageproc

import (
	"encoding/json"
	"strings"
	"testing"
)

// jsLayouts is the part of smolvlm_image_preprocessing.json used here (the
// layouts there are exact; its pixel values are not Python's).
type jsLayouts struct {
	ImageSeqLen int `json:"image_seq_len"`
	Images      []struct {
		Image string  `json:"image"`
		Runs  []jsRun `json:"runs"`
	} `json:"images"`
}

type jsRun struct {
	Split       bool   `json:"do_image_splitting"`
	Rows        int    `json:"rows"`
	Cols        int    `json:"cols"`
	Before      string `json:"prompt_before_expansion"`
	Expanded    string `json:"expanded_prompt"`
	PixelValues struct {
		Dims []int `json:"dims"`
	} `json:"pixel_values"`
	Mask struct {
		Dims      []int `json:"dims"`
		TrueCount int   `json:"true_count"`
	} `json:"pixel_attention_mask"`
}

func loadLayouts(t *testing.T) jsLayouts {
	t.Helper()
	var fx jsLayouts
	if err := json.Unmarshal(readTestdata(t, "smolvlm_image_preprocessing.json"), &fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

// checkLayout compares one Process result with the transformers.js fixture
// run (tile grid, tensor shape, mask count and the expanded prompt).
func checkLayout(t *testing.T, name string, b *Batch, imageSeqLen int, run jsRun) {
	t.Helper()
	g := b.Grids[0]
	if g.Rows != run.Rows || g.Cols != run.Cols {
		t.Errorf("%s: grid %dx%d, want %dx%d", name, g.Rows, g.Cols, run.Rows, run.Cols)
	}
	dims := []int{1, b.N, 3, b.H, b.W}
	if !equalInts(dims, run.PixelValues.Dims) {
		t.Errorf("%s: dims %v, want %v", name, dims, run.PixelValues.Dims)
	}
	count := 0
	for _, m := range b.Mask {
		if m {
			count++
		}
	}
	if count != run.Mask.TrueCount || len(b.Mask) != run.Mask.Dims[1]*run.Mask.Dims[2]*run.Mask.Dims[3] {
		t.Errorf("%s: mask %d true of %d, want %d", name, count, len(b.Mask), run.Mask.TrueCount)
	}
	got, err := ExpandPrompt(run.Before, b.Grids, imageSeqLen)
	if err != nil {
		t.Fatal(err)
	}
	if got != run.Expanded {
		t.Errorf("%s: expanded prompt differs", name)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestExpandImageTokens(t *testing.T) {
	const (
		f = "<fake_token_around_image>"
		g = "<global-img>"
	)
	cases := []struct {
		rows, cols, seq int
		want            string
	}{
		{0, 0, 2, f + g + "<image><image>" + f},
		{0, 3, 1, f + g + "<image>" + f},
		{1, 1, 1, f + "<row_1_col_1><image>\n\n" + f + g + "<image>" + f},
		{2, 2, 1, f + "<row_1_col_1><image>" + f + "<row_1_col_2><image>\n" +
			f + "<row_2_col_1><image>" + f + "<row_2_col_2><image>\n\n" + f + g + "<image>" + f},
		{1, 2, 0, f + "<row_1_col_1>" + f + "<row_1_col_2>\n\n" + f + g + f},
	}
	for _, tc := range cases {
		if got := ExpandImageTokens(tc.rows, tc.cols, tc.seq); got != tc.want {
			t.Errorf("ExpandImageTokens(%d, %d, %d) = %q, want %q", tc.rows, tc.cols, tc.seq, got, tc.want)
		}
	}
	// 3×4 with 64 tokens per tile, as bird.jpg uses.
	s := ExpandImageTokens(3, 4, 64)
	if n := strings.Count(s, ImageToken); n != 13*64 {
		t.Errorf("3x4: %d image tokens, want %d", n, 13*64)
	}
}

func TestExpandPromptErrors(t *testing.T) {
	cases := []struct {
		text  string
		grids []Grid
	}{
		{"no image here", []Grid{{}}},
		{"<image><image>", []Grid{{}}},
		{"<image>", nil},
	}
	for _, tc := range cases {
		if _, err := ExpandPrompt(tc.text, tc.grids, 4); err == nil {
			t.Errorf("ExpandPrompt(%q, %d grids): no error", tc.text, len(tc.grids))
		}
	}
	got, err := ExpandPrompt("a<image>b<image>c", []Grid{{}, {1, 1}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := "a" + ExpandImageTokens(0, 0, 1) + "b" + ExpandImageTokens(1, 1, 1) + "c"
	if got != want {
		t.Errorf("two images: %q, want %q", got, want)
	}
}
