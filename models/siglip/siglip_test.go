package siglip

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"hidden_size":768,"num_attention_heads":12,"patch_size":16,"image_size":512}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.PatchesPerSide() != 32 || c.NumHiddenLayers != 12 || c.LayerNormEps != 1e-6 {
		t.Errorf("config %+v", c)
	}
	for _, bad := range []struct{ json, want string }{
		{``, "missing"},
		{`{"hidden_size":10,"num_attention_heads":3}`, "hidden_size: 10 not divisible by num_attention_heads 3"},
		{`{"image_size":500,"patch_size":16}`, "image_size: 500 not a multiple of patch_size 16"},
		{`{"hidden_act":"relu"}`, `hidden_act "relu"`},
	} {
		if _, err := ParseConfig([]byte(bad.json)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.json, err, bad.want)
		}
	}
}

// Position ids follow transformers' bucketing: a full grid is 0..n-1; a
// partial one spreads its rows and columns over the whole table.
func TestPositionIDs(t *testing.T) {
	m := &Model{cfg: Config{ImageSize: 64, PatchSize: 16}}
	full := make([]bool, 16)
	for i := range full {
		full[i] = true
	}
	for i, id := range m.positionIDs(full) {
		if id != i {
			t.Fatalf("full grid: id %d at %d", id, i)
		}
	}
	// 2 rows x 3 columns of real patches.
	part := make([]bool, 16)
	for r := 0; r < 2; r++ {
		for c := 0; c < 3; c++ {
			part[r*4+c] = true
		}
	}
	ids := m.positionIDs(part)
	want := map[int]int{0: 0, 1: 1, 2: 2, 4: 8, 5: 9, 6: 10}
	for i, w := range want {
		if ids[i] != w {
			t.Errorf("patch %d: id %d, want %d (ids %v)", i, ids[i], w, ids)
		}
	}
}
