// Package siglip is the SigLIP vision transformer as SmolVLM (Idefics3) uses
// it: a 16x16 stride-16 patch convolution (done as a matrix multiply),
// learned position embeddings indexed by bucketed patch coordinates, pre-norm
// encoder layers (LayerNorm, multi-head attention with biases, MLP with
// gelu_pytorch_tanh) and a final LayerNorm.
package siglip

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/hf"
	"github.com/cellm-ai/cellm-go/kernels"
	"github.com/cellm-ai/cellm-go/models/weights"
)

// Config is the vision tower's configuration (Hugging Face vision_config).
type Config = hf.VisionConfig

// ParseConfig reads a vision_config JSON object (as stored in the .cellm
// header's source_vision_config), applying Idefics3VisionConfig defaults.
func ParseConfig(raw json.RawMessage) (Config, error) {
	if len(raw) == 0 {
		return Config{}, errors.New("vision config: missing (source_vision_config)")
	}
	c, err := hf.ParseVisionConfig(raw)
	if err != nil {
		return c, fmt.Errorf("vision config: %w", err)
	}
	if c.HiddenAct != "gelu_pytorch_tanh" {
		return c, fmt.Errorf("vision config: hidden_act %q not supported (want gelu_pytorch_tanh)", c.HiddenAct)
	}
	return c, nil
}

type layer struct {
	ln1w, ln1b, ln2w, ln2b []float32
	q, k, v, o             kernels.Matrix
	qb, kb, vb, ob         []float32
	fc1, fc2               kernels.Matrix
	fc1b, fc2b             []float32
}

// Model is a loaded vision tower. It is immutable and safe for concurrent use.
type Model struct {
	cfg        Config
	patch      kernels.Matrix // [hidden, channels*patch*patch]
	patchBias  []float32
	posEmbed   []float32 // [patchesPerSide², hidden]
	layers     []layer
	postW      []float32
	postB      []float32
	headDim    int
	attnScale  float32
	normEps    float32
	numPatches int
	bf16Act    bool // see UseBF16Activations
	bf16Attn   bool // see UseBF16Attention
}

// UseBF16Activations makes the layers' projections (q, k, v, o, fc1, fc2)
// round their inputs to bf16 and run on the CPU's bf16 dot-product
// instructions when their weights are bf16 or f16 (kernels.MatMulBF16;
// f16 weights are rounded to bf16 as they are packed), and the
// attention likewise for every weight type (kernels.AttentionBF16): about
// 3x the f32 path's speed, at the cost of bf16 precision in the inputs.
// Call it before the model is used; it has no effect on CPUs without
// AVX512_BF16.
func (m *Model) UseBF16Activations(on bool) { m.bf16Act = on }

// UseBF16Attention runs the attention alone on bf16 dot products
// (kernels.AttentionBF16), the projections keeping their own kernels with
// f32 inputs: the choice for int8 towers, whose projections have no bf16
// path. UseBF16Activations implies it. Call it before the model is used;
// it has no effect on CPUs without AVX512_BF16.
func (m *Model) UseBF16Attention(on bool) { m.bf16Attn = on }

// BF16Attention reports whether the attention runs on bf16 dot products
// (UseBF16Attention or UseBF16Activations).
func (m *Model) BF16Attention() bool { return m.bf16Attn || m.bf16Act }

// BF16Activations reports whether UseBF16Activations is on.
func (m *Model) BF16Activations() bool { return m.bf16Act }

// project computes y = x·wᵀ for n rows (see UseBF16Activations), then
// ep: the bias added, then the result added to y or passed through
// GELUTanh. With bf16 activations it is one fused pass
// (kernels.MatMulBF16Fused); otherwise the steps run one after the other,
// tmp (len(y)) holding x·wᵀ when it is added to y.
func (m *Model) project(y []float32, w *kernels.Matrix, x []float32, n int, ep kernels.Epilogue, tmp []float32) {
	if m.bf16Act {
		kernels.MatMulBF16Fused(y, w, x, n, ep)
		return
	}
	out := y
	if ep.Accumulate {
		out = tmp[:len(y)]
	}
	// Quantized weights keep float32 activations (see kernels.MatMulWidened).
	kernels.MatMulWidened(out, w, x, n)
	if ep.Bias != nil {
		addBias(out, ep.Bias)
	}
	switch {
	case ep.Accumulate:
		kernels.Add(y, y, out)
	case ep.GELU:
		kernels.GELUTanh(y, out)
	}
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Load reads the vision tower whose tensors start with prefix (for SmolVLM
// "model.vision_model.").
func Load(f *format.File, prefix string, cfg Config) (*Model, error) {
	return LoadFrom(weights.Loader{F: f}, prefix, cfg)
}

// LoadFrom is Load reading through l (which may record the tensors used).
func LoadFrom(l weights.Loader, prefix string, cfg Config) (*Model, error) {
	d, p, ch := cfg.HiddenSize, cfg.PatchSize, cfg.NumChannels
	m := &Model{cfg: cfg, headDim: d / cfg.NumAttentionHeads, normEps: float32(cfg.LayerNormEps)}
	m.attnScale = float32(1 / math.Sqrt(float64(m.headDim)))
	m.numPatches = cfg.PatchesPerSide() * cfg.PatchesPerSide()
	var err error
	must := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	e := prefix + "embeddings."
	m.patch, err = l.MatrixOf(e+"patch_embedding.weight", []int{d, ch, p, p}, d, ch*p*p)
	m.patchBias, _ = l.Floats(e+"patch_embedding.bias", d)
	if err == nil {
		m.patchBias, err = l.Floats(e+"patch_embedding.bias", d)
	}
	if err == nil {
		m.posEmbed, err = l.Floats(e+"position_embedding.weight", m.numPatches, d)
	}
	vec := func(name string, n int) []float32 {
		v, e := l.Floats(name, n)
		must(e)
		return v
	}
	mat := func(name string, rows, cols int) kernels.Matrix {
		v, e := l.Matrix(name, rows, cols)
		must(e)
		return v
	}
	for i := 0; i < cfg.NumHiddenLayers && err == nil; i++ {
		pre := fmt.Sprintf("%sencoder.layers.%d.", prefix, i)
		a := pre + "self_attn."
		m.layers = append(m.layers, layer{
			ln1w: vec(pre+"layer_norm1.weight", d), ln1b: vec(pre+"layer_norm1.bias", d),
			ln2w: vec(pre+"layer_norm2.weight", d), ln2b: vec(pre+"layer_norm2.bias", d),
			q: mat(a+"q_proj.weight", d, d), k: mat(a+"k_proj.weight", d, d),
			v: mat(a+"v_proj.weight", d, d), o: mat(a+"out_proj.weight", d, d),
			qb: vec(a+"q_proj.bias", d), kb: vec(a+"k_proj.bias", d),
			vb: vec(a+"v_proj.bias", d), ob: vec(a+"out_proj.bias", d),
			fc1: mat(pre+"mlp.fc1.weight", cfg.IntermediateSize, d), fc1b: vec(pre+"mlp.fc1.bias", cfg.IntermediateSize),
			fc2: mat(pre+"mlp.fc2.weight", d, cfg.IntermediateSize), fc2b: vec(pre+"mlp.fc2.bias", d),
		})
	}
	if err == nil {
		m.postW = vec(prefix+"post_layernorm.weight", d)
		m.postB = vec(prefix+"post_layernorm.bias", d)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// PatchMask returns which patches of an image hold at least one real pixel,
// given its pixel mask (H x W, true = real; nil = all real), as Idefics3 does.
func (m *Model) PatchMask(pixelMask []bool) []bool {
	side, p, size := m.cfg.PatchesPerSide(), m.cfg.PatchSize, m.cfg.ImageSize
	mask := make([]bool, side*side)
	for i := range mask {
		if pixelMask == nil {
			mask[i] = true
			continue
		}
		py, px := i/side, i%side
	scan:
		for y := py * p; y < (py+1)*p; y++ {
			for x := px * p; x < (px+1)*p; x++ {
				if pixelMask[y*size+x] {
					mask[i] = true
					break scan
				}
			}
		}
	}
	return mask
}

// positionIDs computes each patch's position-embedding row the way the
// Idefics3 vision embeddings do: real patches' fractional coordinates are
// bucketed onto the full grid; padded patches keep id 0.
func (m *Model) positionIDs(patchMask []bool) []int {
	side := m.cfg.PatchesPerSide()
	ids := make([]int, side*side)
	nh, nw := 0, 0
	for r := 0; r < side; r++ {
		if patchMask[r*side] {
			nh++
		}
	}
	for c := 0; c < side; c++ {
		if patchMask[c] {
			nw++
		}
	}
	if nh == 0 || nw == 0 {
		return ids
	}
	// torch: boundaries = arange(1/side, 1.0, 1/side); coords = arange(0, 1-1e-6, 1/n);
	// bucketize(coords, boundaries, right=True) = number of boundaries <= coord.
	var boundaries []float32
	for i := 1; ; i++ {
		b := float64(i) * (1 / float64(side))
		if b >= 1.0 {
			break
		}
		boundaries = append(boundaries, float32(b))
	}
	bucket := func(n int) []int {
		var out []int
		for i := 0; ; i++ {
			x := float64(i) * (1 / float64(n))
			if x >= 1-1e-6 {
				break
			}
			xf := float32(x)
			k := 0
			for _, b := range boundaries {
				if b <= xf {
					k++
				}
			}
			out = append(out, k)
		}
		return out
	}
	bh, bw := bucket(nh), bucket(nw)
	var pos []int
	for _, h := range bh {
		for _, w := range bw {
			pos = append(pos, h*side+w)
		}
	}
	j := 0
	for i, real := range patchMask {
		if real && j < len(pos) {
			ids[i] = pos[j]
			j++
		}
	}
	return ids
}

// Workspace holds the activations of one Encode call, so that encoding
// many tiles reuses the same memory. A Workspace belongs to one goroutine.
type Workspace struct {
	unfolded, x, h, q, k, v, kc, vc, attn, mlp []float32
}

// Encode runs the vision tower on one image: pixels are [channels, S, S]
// with S = image_size, already normalized; pixelMask (S x S, nil = all real)
// marks padding. It returns the post-layernorm hidden states, one row of
// hidden_size per patch, patches in row-major order.
func (m *Model) Encode(pixels []float32, pixelMask []bool) ([]float32, error) {
	x, err := m.EncodeWith(&Workspace{}, pixels, pixelMask)
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), x...), nil
}

// grow returns buf resized to n, reusing its memory when it is large enough.
func grow(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]float32, n)
}

// EncodeWith is Encode using the buffers of ws. The result aliases ws and is
// valid until ws is used again.
func (m *Model) EncodeWith(ws *Workspace, pixels []float32, pixelMask []bool) ([]float32, error) {
	var masks [][]bool
	if pixelMask != nil {
		masks = [][]bool{pixelMask}
	}
	return m.EncodeBatch(ws, pixels, masks, 1)
}

// EncodeBatch is EncodeWith for t images (pixels [t, channels, S, S];
// masks nil or t pixel masks, each nil or S x S): every projection runs
// once over the patches of all t images, the attention per image. The
// result holds t x patches rows of hidden_size, image after image, the
// same values as t EncodeWith calls; it aliases ws and is valid until ws
// is used again.
func (m *Model) EncodeBatch(ws *Workspace, pixels []float32, masks [][]bool, t int) ([]float32, error) {
	c := m.cfg
	s, p, ch, d := c.ImageSize, c.PatchSize, c.NumChannels, c.HiddenSize
	if t < 1 {
		return nil, fmt.Errorf("siglip: %d images, want at least 1", t)
	}
	if len(pixels) != t*ch*s*s {
		return nil, fmt.Errorf("siglip: %d pixel values, want %d (%dx%dx%dx%d)", len(pixels), t*ch*s*s, t, ch, s, s)
	}
	if masks != nil && len(masks) != t {
		return nil, fmt.Errorf("siglip: %d pixel masks for %d images", len(masks), t)
	}
	side, n := c.PatchesPerSide(), m.numPatches
	keep := make([][]int, t) // real patches of each image
	ids := make([][]int, t)  // their position-embedding rows
	maxKeep := 0
	for im := range t {
		var pixelMask []bool
		if masks != nil {
			pixelMask = masks[im]
		}
		if pixelMask != nil && len(pixelMask) != s*s {
			return nil, fmt.Errorf("siglip: image %d: pixel mask of %d, want %d", im, len(pixelMask), s*s)
		}
		patchMask := m.PatchMask(pixelMask)
		for i, real := range patchMask {
			if real {
				keep[im] = append(keep[im], i)
			}
		}
		if len(keep[im]) == 0 {
			return nil, fmt.Errorf("siglip: image %d has no real pixels", im)
		}
		ids[im] = m.positionIDs(patchMask)
		maxKeep = max(maxKeep, len(keep[im]))
	}
	heads, hd := c.NumAttentionHeads, m.headDim
	cols, rows := ch*p*p, t*n
	ws.unfolded = grow(ws.unfolded, rows*cols)
	ws.x, ws.h = grow(ws.x, rows*d), grow(ws.h, rows*d)
	ws.q, ws.k, ws.v = grow(ws.q, rows*d), grow(ws.k, rows*d), grow(ws.v, rows*d)
	ws.kc, ws.vc = grow(ws.kc, heads*maxKeep*hd), grow(ws.vc, heads*maxKeep*hd)
	ws.attn, ws.mlp = grow(ws.attn, rows*d), grow(ws.mlp, rows*c.IntermediateSize)
	unfolded, x, h, q, k, v, kc, vc, attn, mlp := ws.unfolded, ws.x, ws.h, ws.q, ws.k, ws.v, ws.kc, ws.vc, ws.attn, ws.mlp

	// Patch embedding: unfold each patch into a row (c, ky, kx order, as the
	// convolution kernel is laid out), then one matrix multiply.
	for r := 0; r < rows; r++ {
		im, i := r/n, r%n
		py, px := i/side, i%side
		row := unfolded[r*cols:]
		img := pixels[im*ch*s*s:]
		for cc := 0; cc < ch; cc++ {
			for ky := 0; ky < p; ky++ {
				src := img[cc*s*s+(py*p+ky)*s+px*p:]
				copy(row[(cc*p+ky)*p:(cc*p+ky+1)*p], src[:p])
			}
		}
	}
	// x = position embedding + (patches·Wᵀ + bias), one add per value as
	// ((patches·Wᵀ + bias) + position) would round.
	for r := 0; r < rows; r++ {
		id := ids[r/n][r%n]
		copy(x[r*d:(r+1)*d], m.posEmbed[id*d:(id+1)*d])
	}
	m.project(x, &m.patch, unfolded, rows, kernels.Epilogue{Bias: m.patchBias, Accumulate: true}, h)

	// Keys and values of real patches only: masked keys get zero weight.
	eps := m.normEps
	for li := range m.layers {
		L := &m.layers[li]
		kernels.LayerNormRows(h, x, L.ln1w, L.ln1b, rows, eps)
		m.project(q, &L.q, h, rows, kernels.Epilogue{Bias: L.qb}, nil)
		m.project(k, &L.k, h, rows, kernels.Epilogue{Bias: L.kb}, nil)
		m.project(v, &L.v, h, rows, kernels.Epilogue{Bias: L.vb}, nil)
		for im := range t {
			off := im * n * d
			stride := len(keep[im])
			a, qi := attn[off:off+n*d], q[off:off+n*d]
			if m.BF16Attention() && stride == n {
				// Every patch is real: the keys and values are read in place.
				kernels.AttentionBF16Tokens(a, qi, k[off:off+n*d], v[off:off+n*d], n, heads, heads, hd, n, m.attnScale)
				continue
			}
			for j, i := range keep[im] {
				i += im * n
				for hh := 0; hh < heads; hh++ {
					copy(kc[(hh*stride+j)*hd:(hh*stride+j+1)*hd], k[i*d+hh*hd:i*d+(hh+1)*hd])
					copy(vc[(hh*stride+j)*hd:(hh*stride+j+1)*hd], v[i*d+hh*hd:i*d+(hh+1)*hd])
				}
			}
			if m.BF16Attention() {
				kernels.AttentionBF16(a, qi, kc, vc, n, heads, heads, hd, stride, stride, m.attnScale)
			} else {
				kernels.AttentionBatch(a, qi, kc, vc, n, heads, heads, hd, stride, stride, m.attnScale)
			}
		}
		m.project(x, &L.o, attn, rows, kernels.Epilogue{Bias: L.ob, Accumulate: true}, h)

		kernels.LayerNormRows(h, x, L.ln2w, L.ln2b, rows, eps)
		m.project(mlp, &L.fc1, h, rows, kernels.Epilogue{Bias: L.fc1b, GELU: true}, nil)
		m.project(x, &L.fc2, mlp, rows, kernels.Epilogue{Bias: L.fc2b, Accumulate: true}, h)
	}
	kernels.LayerNormRows(x, x, m.postW, m.postB, rows, eps)
	return x, nil
}

// addBias adds bias to every row of x.
func addBias(x, bias []float32) {
	d := len(bias)
	for i := 0; i+d <= len(x); i += d {
		kernels.Add(x[i:i+d], x[i:i+d], bias)
	}
}

// HalfWeights reports whether the tower's matrices are bf16 or f16, the
// files on which bf16 activations are the default (an f32 file keeps the
// exact f32 path; quantized files keep their own kernels).
func (m *Model) HalfWeights() bool {
	if len(m.layers) == 0 {
		return false
	}
	t := m.layers[0].fc1.Type
	return t == kernels.BF16 || t == kernels.F16
}

// WeightType is the storage type of the encoder's projection matrices.
func (m *Model) WeightType() kernels.DType {
	if len(m.layers) == 0 {
		return m.patch.Type
	}
	return m.layers[0].fc1.Type
}
