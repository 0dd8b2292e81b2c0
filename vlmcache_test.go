package cellm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/imagecache"
	"github.com/cellm-ai/cellm-go/kernels"
)

func readImage(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("imageproc", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestImageCacheHit: the second request about an image takes its features
// from the cache (no vision encode), they are identical to a fresh
// encoding, and generation is identical.
func TestImageCacheHit(t *testing.T) {
	m := tinyVLM(t)
	ctx := context.Background()
	img := readImage(t, "bird.jpg")
	req := Request{Prompt: "What is in the image?", Chat: true, Images: [][]byte{img}, MaxNewTokens: 6, IgnoreEOS: true}
	first, err := m.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Stats.ImageCacheHits != 0 || first.Stats.VisionEncode == 0 {
		t.Fatalf("first request: %d cache hits, vision encode %v", first.Stats.ImageCacheHits, first.Stats.VisionEncode)
	}
	second, err := m.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Stats.ImageCacheHits != 1 || second.Stats.VisionEncode != 0 || second.Stats.Tiles != first.Stats.Tiles {
		t.Errorf("second request: %d cache hits, vision encode %v, %d tiles (first %d)", second.Stats.ImageCacheHits, second.Stats.VisionEncode, second.Stats.Tiles, first.Stats.Tiles)
	}
	if !slices.Equal(first.PromptIDs, second.PromptIDs) || !slices.Equal(first.Tokens, second.Tokens) {
		t.Errorf("cached features changed the generation: %v, then %v", first.Tokens, second.Tokens)
	}
	// The cached features are those of a fresh encoding, bit for bit.
	cfg, split, err := m.imageSettings(&req)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.imageCache.Get(imagecache.KeyOf(img, cfg, split, 0))
	if !ok {
		t.Fatal("the image is not in the cache")
	}
	b, err := m.PreprocessImages([][]byte{img}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.ImageFeatures(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.Tiles != b.N || e.Grid != b.Grids[0] || !slices.Equal(e.Features, want) {
		t.Errorf("cached entry: %d tiles, grid %v, %d values; fresh encoding: %d tiles, grid %v, %d values (equal: %v)",
			e.Tiles, e.Grid, len(e.Features), b.N, b.Grids[0], len(want), slices.Equal(e.Features, want))
	}
	if s := m.ImageCacheStats(); s.Entries != 1 || s.Bytes > s.MaxBytes {
		t.Errorf("cache stats %+v", s)
	}
	// Other processor settings are another entry.
	noSplit := false
	req.SplitImage = &noSplit
	third, err := m.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if third.Stats.ImageCacheHits != 0 || third.Stats.Tiles != 1 {
		t.Errorf("unsplit request: %d cache hits, %d tiles", third.Stats.ImageCacheHits, third.Stats.Tiles)
	}
}

// TestImageCacheMixed: with one image cached and one not, the features are
// assembled in prompt order and generation equals that of a model without
// a cache.
func TestImageCacheMixed(t *testing.T) {
	m := tinyVLM(t)
	ctx := context.Background()
	bird, bus := readImage(t, "bird.jpg"), readImage(t, "bus_portrait.jpg")
	if _, err := m.Generate(ctx, Request{Prompt: "<image>Hi", Images: [][]byte{bus}, MaxNewTokens: 1}, nil); err != nil {
		t.Fatal(err)
	}
	req := Request{Prompt: "<image>and<image>: compare", Images: [][]byte{bird, bus}, MaxNewTokens: 6, IgnoreEOS: true}
	got, err := m.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Stats.ImageCacheHits != 1 || got.Stats.Images != 2 {
		t.Errorf("%d cache hits for %d images, want 1 of 2", got.Stats.ImageCacheHits, got.Stats.Images)
	}
	ref := tinyVLMOptions(t, &Options{ImageCacheBytes: -1})
	want, err := ref.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want.Stats.ImageCacheHits != 0 || ref.ImageCacheStats().Entries != 0 {
		t.Errorf("a disabled cache was used")
	}
	if !slices.Equal(got.PromptIDs, want.PromptIDs) || !slices.Equal(got.Tokens, want.Tokens) || got.Stats.Tiles != want.Stats.Tiles {
		t.Errorf("with a cached image: %v (%d tiles); without cache: %v (%d tiles)", got.Tokens, got.Stats.Tiles, want.Tokens, want.Stats.Tiles)
	}
}

// TestSessionReusesImagePrefix: a second question about the same image in
// one session reuses the cached positions of the image tokens too, and
// generates what a fresh model does.
func TestSessionReusesImagePrefix(t *testing.T) {
	m := tinyVLM(t)
	ctx := context.Background()
	img := readImage(t, "bird.jpg")
	s := m.NewSession()
	defer s.Close()
	if _, err := s.Generate(ctx, Request{Prompt: "<image>What is this?", Images: [][]byte{img}, MaxNewTokens: 4}, nil); err != nil {
		t.Fatal(err)
	}
	req := Request{Prompt: "<image>Where is it?", Images: [][]byte{img}, MaxNewTokens: 6, IgnoreEOS: true}
	got, err := s.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	lastImage := 0
	for i, id := range got.PromptIDs {
		if id == m.imageTokenID {
			lastImage = i
		}
	}
	if got.Stats.ReusedTokens <= lastImage {
		t.Errorf("reused %d positions, the image tokens end at %d", got.Stats.ReusedTokens, lastImage+1)
	}
	ref := tinyVLMOptions(t, &Options{ImageCacheBytes: -1})
	want, err := ref.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want.Stats.ReusedTokens != 0 || !slices.Equal(got.Tokens, want.Tokens) {
		t.Errorf("session with the image prefix reused: %v; fresh: %v (reused %d)", got.Tokens, want.Tokens, want.Stats.ReusedTokens)
	}
	// Another image with the same grid shares the ids, not the positions.
	other, err := s.Generate(ctx, Request{Prompt: "<image>Where is it?", Images: [][]byte{readImage(t, "bus_portrait.jpg")}, MaxNewTokens: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := slices.Index(other.PromptIDs, m.imageTokenID)
	if other.Stats.ReusedTokens > first {
		t.Errorf("another image reused %d positions, its first image token is at %d", other.Stats.ReusedTokens, first)
	}
}

// TestMaxImageTiles: the tile cap lowers the tiles (and image tokens) as
// documented, and ImageLongestEdge overrides the first resize.
func TestMaxImageTiles(t *testing.T) {
	m := tinyVLM(t) // tiles of 64, longest edge 128: bird.jpg is 2x2 + global
	img := readImage(t, "bird.jpg")
	for _, c := range []struct {
		maxTiles, edge, tiles int
	}{{0, 0, 5}, {5, 0, 5}, {4, 0, 1}, {1, 0, 1}, {0, 64, 1}, {0, 192, 7}, {6, 192, 5}} {
		b, err := m.PreprocessRequestImages(Request{Images: [][]byte{img}, MaxImageTiles: c.maxTiles, ImageLongestEdge: c.edge})
		if err != nil {
			t.Fatal(err)
		}
		ids, err := m.Tokenize(Request{Prompt: "<image>x", Images: [][]byte{img}, MaxImageTiles: c.maxTiles, ImageLongestEdge: c.edge})
		if err != nil {
			t.Fatal(err)
		}
		imageTokens := 0
		for _, id := range ids {
			if id == m.imageTokenID {
				imageTokens++
			}
		}
		if b.N != c.tiles || imageTokens != c.tiles*m.imageCfg.ImageSeqLen {
			t.Errorf("max tiles %d, longest edge %d: %d tiles and %d image tokens, want %d tiles", c.maxTiles, c.edge, b.N, imageTokens, c.tiles)
		}
	}
	for _, bad := range []Request{{MaxImageTiles: -1}, {ImageLongestEdge: -5}, {ImageLongestEdge: 1 << 20}} {
		bad.Images = [][]byte{img}
		if _, err := m.PreprocessRequestImages(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestPrefillAhead: prefilling the text before the image while the vision
// tower runs gives the generation of doing it after, and counts those
// positions as computed, not reused.
func TestPrefillAhead(t *testing.T) {
	ctx := context.Background()
	img := readImage(t, "bird.jpg")
	req := Request{Prompt: "What is in the image?", System: "You describe photos briefly.", Chat: true,
		Images: [][]byte{img}, MaxNewTokens: 8, IgnoreEOS: true}
	m := tinyVLMOptions(t, &Options{ImageCacheBytes: -1})
	got, err := m.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := slices.Index(got.PromptIDs, m.imageTokenID)
	if got.Stats.PrefilledAhead != first || got.Stats.ReusedTokens != 0 {
		t.Errorf("prefilled ahead %d positions (first image token at %d), reused %d", got.Stats.PrefilledAhead, first, got.Stats.ReusedTokens)
	}
	ref := tinyVLMOptions(t, &Options{ImageCacheBytes: -1})
	ref.noPrefillAhead = true
	want, err := ref.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want.Stats.PrefilledAhead != 0 || !slices.Equal(got.Tokens, want.Tokens) {
		t.Errorf("prefilled ahead: %v; after the image: %v", got.Tokens, want.Tokens)
	}
	// A session holding the image from an earlier turn is not truncated to
	// the text before it: the image positions are reused instead.
	s := m.NewSession()
	defer s.Close()
	if _, err := s.Generate(ctx, req, nil); err != nil {
		t.Fatal(err)
	}
	again, err := s.Generate(ctx, req, nil) // the cache is off: the image is encoded again
	if err != nil {
		t.Fatal(err)
	}
	last := 0
	for i, id := range again.PromptIDs {
		if id == m.imageTokenID {
			last = i
		}
	}
	if again.Stats.PrefilledAhead != 0 || again.Stats.ReusedTokens <= last || !slices.Equal(again.Tokens, want.Tokens) {
		t.Errorf("second turn: prefilled ahead %d, reused %d (image ends at %d), tokens %v want %v",
			again.Stats.PrefilledAhead, again.Stats.ReusedTokens, last+1, again.Tokens, want.Tokens)
	}
}

// TestImagePipeline: images encoded one by one while the next is decoded
// and tiled give exactly the features of preprocessing and encoding them
// together, hence the same generation; a bad image stops the pipeline
// with an error naming it.
func TestImagePipeline(t *testing.T) {
	ctx := context.Background()
	bird, bus := readImage(t, "bird.jpg"), readImage(t, "bus_portrait.jpg")
	m := tinyVLM(t)
	var progress [][2]int
	req := Request{Prompt: "<image><image>Compare.", Images: [][]byte{bird, bus}, MaxNewTokens: 6, IgnoreEOS: true,
		ImageProgress: func(done, total int) { progress = append(progress, [2]int{done, total}) }}
	got, err := m.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.PreprocessImages(req.Images, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	feats, err := m.ImageFeatures(b)
	if err != nil {
		t.Fatal(err)
	}
	cfg, split, err := m.imageSettings(&req)
	if err != nil {
		t.Fatal(err)
	}
	per := len(feats) / b.N
	first := 0
	for i, img := range req.Images {
		e, ok := m.imageCache.Get(imagecache.KeyOf(img, cfg, split, 0))
		if !ok {
			t.Fatalf("image %d not cached", i+1)
		}
		if !slices.Equal(e.Features, feats[first*per:(first+e.Tiles)*per]) {
			t.Errorf("image %d: pipelined features differ from encoding the batch", i+1)
		}
		first += e.Tiles
	}
	if first != b.N || got.Stats.Tiles != b.N {
		t.Errorf("%d tiles cached, %d in the batch, %d in the stats", first, b.N, got.Stats.Tiles)
	}
	if len(progress) != b.N || progress[len(progress)-1] != [2]int{b.N, b.N} {
		t.Errorf("progress %v for %d tiles", progress, b.N)
	}
	ref := tinyVLMOptions(t, &Options{ImageCacheBytes: -1})
	supplied := req
	supplied.ImageFeatures, supplied.ImageProgress = feats, nil
	want, err := ref.Generate(ctx, supplied, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Tokens, want.Tokens) || !slices.Equal(got.PromptIDs, want.PromptIDs) {
		t.Errorf("pipelined: %v; batch features: %v", got.Tokens, want.Tokens)
	}
	bad := Request{Prompt: "<image><image>x", Images: [][]byte{readImage(t, "coco_000000039769.png"), []byte("not an image")}}
	if _, err := ref.Generate(ctx, bad, nil); err == nil || !strings.Contains(err.Error(), "image 2") {
		t.Errorf("a bad second image: err %v, want one naming image 2", err)
	}
}

// TestVisionBF16ActivationsTokens: with bf16 weights, the default (bf16
// activations in the vision tower) keeps the greedy tokens of the f32 path.
func TestVisionBF16ActivationsTokens(t *testing.T) {
	ctx := context.Background()
	img := readImage(t, "bird.jpg")
	for _, split := range []bool{false, true} {
		req := Request{Prompt: "What is in the image?", Chat: true, Images: [][]byte{img}, SplitImage: &split, MaxNewTokens: 12, IgnoreEOS: true}
		var tokens [2][]int
		for i, p := range []VisionPrecision{VisionF32, VisionAuto} {
			m := tinyVLMConvert(t, nil, &Options{VisionPrecision: p, ImageCacheBytes: -1}, format.BF16)
			res, err := m.Generate(ctx, req, nil)
			if err != nil {
				t.Fatal(err)
			}
			tokens[i] = res.Tokens
		}
		if !slices.Equal(tokens[0], tokens[1]) {
			t.Errorf("split %v: f32 inputs %v, bf16 inputs %v", split, tokens[0], tokens[1])
		}
	}
}

// TestVisionPrecisionDefault: bf16 activations are the default on bf16 and
// f16 files only; VisionBF16 and VisionF32 force either way.
func TestVisionPrecisionDefault(t *testing.T) {
	for _, c := range []struct {
		dt   format.DType
		p    VisionPrecision
		want bool
	}{
		{format.BF16, VisionAuto, true}, {format.F16, VisionAuto, true}, {format.F32, VisionAuto, false},
		{format.BF16, VisionF32, false}, {format.F32, VisionBF16, true},
	} {
		m := tinyVLMConvert(t, nil, &Options{VisionPrecision: c.p}, c.dt)
		if got := m.vlm.Vision.BF16Activations(); got != c.want {
			t.Errorf("%v file, %v: bf16 activations %v, want %v", c.dt, c.p, got, c.want)
		}
	}
}

// TestVisionInt8Tower: an int8 vision tower runs its attention alone in
// bf16 by default (VisionF32 turns it off) and gives the greedy tokens of
// the f16 file's f32 path, with and without image splitting.
func TestVisionInt8Tower(t *testing.T) {
	for _, c := range []struct {
		p                  VisionPrecision
		wantAttn, wantActs bool
	}{{VisionAuto, true, false}, {VisionF32, false, false}, {VisionBF16, true, true}} {
		m := tinyVLMInt8Vision(t, &Options{VisionPrecision: c.p})
		if v := m.vlm.Vision; v.WeightType() != kernels.Q8 || v.BF16Attention() != c.wantAttn || v.BF16Activations() != c.wantActs {
			t.Errorf("%v: weights %v, bf16 attention %v, activations %v; want int8, %v, %v", c.p, v.WeightType(), v.BF16Attention(), v.BF16Activations(), c.wantAttn, c.wantActs)
		}
	}
	ctx := context.Background()
	img := readImage(t, "bird.jpg")
	ref := tinyVLMConvert(t, nil, &Options{VisionPrecision: VisionF32, ImageCacheBytes: -1}, format.F16)
	q := tinyVLMInt8Vision(t, &Options{ImageCacheBytes: -1})
	for _, split := range []bool{false, true} {
		req := Request{Prompt: "What is in the image?", Chat: true, Images: [][]byte{img}, SplitImage: &split, MaxNewTokens: 12, IgnoreEOS: true}
		want, err := ref.Generate(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := q.Generate(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Tokens, want.Tokens) {
			t.Errorf("split %v: int8 vision %v, f16 %v", split, got.Tokens, want.Tokens)
		}
	}
}
