//go:build onnxruntime

package onnxrt

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// Decoder runs a SmolVLM decoder_model_merged*.onnx graph with its key/value
// cache. The cache persists between calls to Step until Reset. A Decoder is
// not safe for concurrent use; open one per sequence.
type Decoder struct {
	s   *session
	cfg DecoderConfig

	embeds, mask, positions, useCache int   // input indexes (-1: absent)
	pastIn                            []int // input index of past tensor j (layer j/2, key when j even)
	logits                            int   // output index
	presentOut                        []int // output index of present tensor j

	kvType   ort.TensorElementDataType
	past     []ort.Value      // cache tensors, [1, KVHeads, pastLen, HeadDim]; nil before the first step
	bufs     [2][]floatBuffer // storage of the cache tensors, alternating between steps
	cur      int              // bufs[cur] holds past
	pastLen  int
	ones     []int64 // attention mask, all ones
	logitBuf floatBuffer
}

// OpenDecoder loads the decoder at path. Inputs: inputs_embeds (float32 or
// float16 [batch, tokens, hidden]), attention_mask and position_ids (int64
// or int32), past_key_values.{i}.key / .value ([batch, kv heads, past, head
// dim], float32 or float16), and optionally use_cache_branch (bool, as in
// optimum's merged exports). Outputs: logits and present.{i}.key / .value.
func OpenDecoder(path string, o Options) (*Decoder, error) {
	s, err := openSession(path, o)
	if err != nil {
		return nil, err
	}
	d, err := newDecoder(s)
	if err != nil {
		s.close()
		return nil, err
	}
	return d, nil
}

func newDecoder(s *session) (*Decoder, error) {
	base := filepath.Base(s.path)
	d := &Decoder{s: s, embeds: -1, mask: -1, positions: -1, useCache: -1}
	layers := map[int][2]int{} // layer -> input index of key, value (+1 so 0 means unset)
	for i, x := range s.in {
		switch {
		case x.Name == "inputs_embeds":
			d.embeds = i
		case x.Name == "attention_mask":
			d.mask = i
		case x.Name == "position_ids":
			d.positions = i
		case x.Name == "use_cache_branch":
			d.useCache = i
		case strings.HasPrefix(x.Name, "past_key_values."):
			l, kv, ok := parsePastName(strings.TrimPrefix(x.Name, "past_key_values."))
			if !ok {
				return nil, s.errIO("input", x, "want past_key_values.{layer}.key or .value")
			}
			p := layers[l]
			if p[kv] != 0 {
				return nil, s.errIO("input", x, "duplicate")
			}
			p[kv] = i + 1
			layers[l] = p
		default:
			return nil, s.errIO("input", x, "unknown input (want inputs_embeds, attention_mask, position_ids, past_key_values.*)")
		}
	}
	for _, c := range []struct {
		idx  int
		name string
	}{{d.embeds, "inputs_embeds"}, {d.mask, "attention_mask"}, {d.positions, "position_ids"}} {
		if c.idx < 0 {
			return nil, fmt.Errorf("onnxrt: %s: no input named %s (inputs: %v)", base, c.name, names(s.in))
		}
	}
	if x := s.in[d.embeds]; !isFloat(x.DataType) || len(x.Dimensions) != 3 {
		return nil, s.errIO("input", x, "want float32 or float16 [batch, tokens, hidden]")
	}
	for _, i := range []int{d.mask, d.positions} {
		if x := s.in[i]; !isInt(x.DataType) || len(x.Dimensions) != 2 {
			return nil, s.errIO("input", x, "want int64 [batch, length]")
		}
	}
	if d.useCache >= 0 {
		if x := s.in[d.useCache]; x.DataType != ort.TensorElementDataTypeBool {
			return nil, s.errIO("input", x, "want bool")
		}
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("onnxrt: %s: no past_key_values.* inputs: not a decoder with a key/value cache", base)
	}
	d.cfg.Layers = len(layers)
	d.pastIn = make([]int, 2*len(layers))
	for l := range len(layers) {
		p, ok := layers[l]
		if !ok || p[0] == 0 || p[1] == 0 {
			return nil, fmt.Errorf("onnxrt: %s: past_key_values.%d.key/.value missing (layers must be numbered 0..%d, key and value)", base, l, len(layers)-1)
		}
		d.pastIn[2*l], d.pastIn[2*l+1] = p[0]-1, p[1]-1
	}
	for j, i := range d.pastIn {
		x := s.in[i]
		dims := x.Dimensions
		if len(dims) != 4 || dims[1] <= 0 || dims[3] <= 0 {
			return nil, s.errIO("input", x, "want [batch, kv heads, past, head dim] with static kv heads and head dim")
		}
		if !isFloat(x.DataType) {
			return nil, s.errIO("input", x, "want float32 or float16")
		}
		if j == 0 {
			d.cfg.KVHeads, d.cfg.HeadDim, d.kvType = int(dims[1]), int(dims[3]), x.DataType
		} else if int(dims[1]) != d.cfg.KVHeads || int(dims[3]) != d.cfg.HeadDim || x.DataType != d.kvType {
			return nil, s.errIO("input", x, "differs from past_key_values.0.key (%s [?, %d, ?, %d])", dtypeName(d.kvType), d.cfg.KVHeads, d.cfg.HeadDim)
		}
	}
	d.cfg.KVType = dtypeName(d.kvType)
	if h := s.in[d.embeds].Dimensions[2]; h > 0 {
		d.cfg.Hidden = int(h)
	}

	d.logits = s.output("logits")
	if d.logits < 0 {
		return nil, fmt.Errorf("onnxrt: %s: no output named logits (outputs: %v)", base, names(s.out))
	}
	lg := s.out[d.logits]
	if !isFloat(lg.DataType) || len(lg.Dimensions) != 3 {
		return nil, s.errIO("output", lg, "want float32 or float16 [batch, tokens, vocab]")
	}
	if v := lg.Dimensions[2]; v > 0 {
		d.cfg.Vocab = int(v)
	} else if lg.DataType == ort.TensorElementDataTypeFloat16 {
		return nil, s.errIO("output", lg, "float16 logits need a static vocabulary dimension")
	}
	d.presentOut = make([]int, len(d.pastIn))
	for j := range d.presentOut {
		name := fmt.Sprintf("present.%d.%s", j/2, [2]string{"key", "value"}[j%2])
		i := s.output(name)
		if i < 0 {
			return nil, fmt.Errorf("onnxrt: %s: no output named %s (outputs: %v)", base, name, names(s.out))
		}
		if x := s.out[i]; x.DataType != d.kvType || len(x.Dimensions) != 4 {
			return nil, s.errIO("output", x, "want %s [batch, kv heads, total, head dim] like the past inputs", d.cfg.KVType)
		}
		d.presentOut[j] = i
	}
	if len(s.out) != 1+len(d.presentOut) {
		return nil, fmt.Errorf("onnxrt: %s: unexpected outputs %v (want logits and present.*)", base, names(s.out))
	}
	for i := range d.bufs {
		d.bufs[i] = make([]floatBuffer, len(d.pastIn))
	}
	return d, nil
}

// parsePastName splits "{layer}.key" or "{layer}.value"; kv is 0 for key.
func parsePastName(s string) (layer, kv int, ok bool) {
	l, part, found := strings.Cut(s, ".")
	if !found {
		return 0, 0, false
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 0 || n >= 1<<12 || strconv.Itoa(n) != l {
		return 0, 0, false
	}
	switch part {
	case "key":
		return n, 0, true
	case "value":
		return n, 1, true
	}
	return 0, 0, false
}

// Config returns the decoder's dimensions.
func (d *Decoder) Config() DecoderConfig { return d.cfg }

// Len returns the number of positions in the cache.
func (d *Decoder) Len() int { return d.pastLen }

// Reset empties the cache, to start a new sequence.
func (d *Decoder) Reset() {
	destroyAll(d.past)
	d.past = nil
	d.pastLen = 0
}

// Close releases the cache and the session.
func (d *Decoder) Close() error {
	d.Reset()
	return d.s.close()
}

// Step runs n new positions whose input embeddings are embeds (n rows of
// Hidden values) after the cached ones, adds them to the cache and returns
// the logits of the last position. The attention mask covers the whole
// history and the position ids continue from Len (the first position is 0).
// On error the cache is unchanged.
func (d *Decoder) Step(embeds []float32, n int) (lastLogits []float32, err error) {
	s := d.s
	base := filepath.Base(s.path)
	if n <= 0 || len(embeds) == 0 || len(embeds)%n != 0 {
		return nil, fmt.Errorf("onnxrt: %s: %d embedding values are not %d rows", base, len(embeds), n)
	}
	hidden := len(embeds) / n
	if d.cfg.Hidden > 0 && hidden != d.cfg.Hidden {
		return nil, fmt.Errorf("onnxrt: %s: %d embedding values for %d positions, want %d per position", base, len(embeds), n, d.cfg.Hidden)
	}
	past, total := d.pastLen, d.pastLen+n

	in := make([]ort.Value, len(s.in))
	owned := make([]bool, len(s.in)) // inputs to destroy after the run (not the cache)
	defer func() {
		for i, v := range in {
			if owned[i] && v != nil {
				v.Destroy()
			}
		}
	}()
	set := func(i int) func(ort.Value, error) error {
		return func(v ort.Value, err error) error {
			if err != nil {
				return s.errIO("input", s.in[i], "%v", err)
			}
			in[i], owned[i] = v, true
			return nil
		}
	}
	if err := set(d.embeds)(floatTensor(s.in[d.embeds].DataType, ort.NewShape(1, int64(n), int64(hidden)), embeds)); err != nil {
		return nil, err
	}
	for len(d.ones) < total {
		d.ones = append(d.ones, 1)
	}
	if err := set(d.mask)(intTensor(s.in[d.mask].DataType, ort.NewShape(1, int64(total)), d.ones[:total])); err != nil {
		return nil, err
	}
	pos := make([]int64, n)
	for i := range pos {
		pos[i] = int64(past + i)
	}
	if err := set(d.positions)(intTensor(s.in[d.positions].DataType, ort.NewShape(1, int64(n)), pos)); err != nil {
		return nil, err
	}
	if d.useCache >= 0 {
		if err := set(d.useCache)(ort.NewTensor(ort.NewShape(1), []bool{past > 0})); err != nil {
			return nil, err
		}
	}
	if d.past == nil {
		d.past = make([]ort.Value, len(d.pastIn))
		for j := range d.past {
			v, err := d.bufs[d.cur][j].tensor(d.kvType, d.kvShape(0))
			if err != nil {
				d.Reset()
				return nil, s.errIO("input", s.in[d.pastIn[j]], "%v", err)
			}
			d.past[j] = v
		}
	}
	for j, i := range d.pastIn {
		in[i] = d.past[j]
	}

	out := make([]ort.Value, len(s.out))
	next := 1 - d.cur
	defer func() {
		if err != nil {
			destroyAll(out)
		}
	}()
	if d.cfg.Vocab > 0 {
		if out[d.logits], err = d.logitBuf.tensor(s.out[d.logits].DataType, ort.NewShape(1, int64(n), int64(d.cfg.Vocab))); err != nil {
			return nil, s.errIO("output", s.out[d.logits], "%v", err)
		}
	}
	for j, i := range d.presentOut {
		if out[i], err = d.bufs[next][j].tensor(d.kvType, d.kvShape(total)); err != nil {
			return nil, s.errIO("output", s.out[i], "%v", err)
		}
	}
	if err = s.run(in, out); err != nil {
		return nil, err
	}
	lg := out[d.logits]
	shape := lg.GetShape()
	if len(shape) != 3 || shape[0] != 1 || shape[1] != int64(n) || shape[2] <= 0 {
		err = s.errIO("output", s.out[d.logits], "got shape %s for %d positions", dimsString(shape), n)
		return nil, err
	}
	vocab := int(shape[2])
	last, err := floats(lg, (n-1)*vocab, vocab)
	if err != nil {
		err = s.errIO("output", s.out[d.logits], "%v", err)
		return nil, err
	}
	lastLogits = append([]float32(nil), last...)
	d.cfg.Vocab = vocab
	lg.Destroy()

	destroyAll(d.past)
	for j, i := range d.presentOut {
		d.past[j] = out[i]
	}
	d.cur, d.pastLen = next, total
	return lastLogits, nil
}

// kvShape is the shape of one cache tensor holding length positions.
func (d *Decoder) kvShape(length int) ort.Shape {
	return ort.NewShape(1, int64(d.cfg.KVHeads), int64(length), int64(d.cfg.HeadDim))
}
