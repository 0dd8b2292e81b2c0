//go:build onnxruntime

package onnxrt

import (
	"fmt"
	"path/filepath"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"
)

// Embedder runs a SmolVLM embed_tokens*.onnx graph: token ids to input
// embeddings. It is safe for concurrent use.
type Embedder struct {
	s      *session
	hidden atomic.Int64 // 0 until known when the graph leaves it dynamic
}

// OpenEmbedder loads the token embedder at path: input input_ids (int64 or
// int32, [batch, tokens]), output inputs_embeds (float32 or float16,
// [batch, tokens, hidden]).
func OpenEmbedder(path string, o Options) (*Embedder, error) {
	s, err := openSession(path, o)
	if err != nil {
		return nil, err
	}
	e, err := newEmbedder(s)
	if err != nil {
		s.close()
		return nil, err
	}
	return e, nil
}

func newEmbedder(s *session) (*Embedder, error) {
	if len(s.in) != 1 || s.in[0].Name != "input_ids" {
		return nil, fmt.Errorf("onnxrt: %s: inputs %v, want [input_ids]", filepath.Base(s.path), names(s.in))
	}
	if x := s.in[0]; !isInt(x.DataType) || len(x.Dimensions) != 2 {
		return nil, s.errIO("input", x, "want int64 [batch, tokens]")
	}
	if len(s.out) != 1 {
		return nil, fmt.Errorf("onnxrt: %s: outputs %v, want [inputs_embeds]", filepath.Base(s.path), names(s.out))
	}
	y := s.out[0]
	if !isFloat(y.DataType) || len(y.Dimensions) != 3 {
		return nil, s.errIO("output", y, "want float32 [batch, tokens, hidden]")
	}
	e := &Embedder{s: s}
	if d := y.Dimensions[2]; d > 0 {
		e.hidden.Store(d)
	} else if y.DataType == ort.TensorElementDataTypeFloat16 {
		return nil, s.errIO("output", y, "float16 embeddings need a static hidden dimension")
	}
	return e, nil
}

// Close releases the session.
func (e *Embedder) Close() error { return e.s.close() }

// Hidden returns the embedding width, or 0 if the graph leaves it dynamic
// and Embed has not run yet.
func (e *Embedder) Hidden() int { return int(e.hidden.Load()) }

// Embed returns the embeddings of ids, len(ids) rows of Hidden values.
func (e *Embedder) Embed(ids []int64) ([]float32, error) {
	s := e.s
	if len(ids) == 0 {
		return nil, fmt.Errorf("onnxrt: %s: no token ids", filepath.Base(s.path))
	}
	in := make([]ort.Value, 1)
	defer destroyAll(in)
	var err error
	if in[0], err = intTensor(s.in[0].DataType, ort.NewShape(1, int64(len(ids))), ids); err != nil {
		return nil, s.errIO("input", s.in[0], "%v", err)
	}
	out := make([]ort.Value, 1)
	defer destroyAll(out)
	var buf floatBuffer
	if h := e.hidden.Load(); h > 0 {
		if out[0], err = buf.tensor(s.out[0].DataType, ort.NewShape(1, int64(len(ids)), h)); err != nil {
			return nil, s.errIO("output", s.out[0], "%v", err)
		}
	}
	if err := s.run(in, out); err != nil {
		return nil, err
	}
	got := out[0].GetShape()
	if len(got) != 3 || got[1] != int64(len(ids)) || got[2] <= 0 {
		return nil, s.errIO("output", s.out[0], "got shape %s for %d tokens", dimsString(got), len(ids))
	}
	e.hidden.Store(got[2])
	vals, err := floats(out[0], 0, -1)
	if err != nil {
		return nil, s.errIO("output", s.out[0], "%v", err)
	}
	// float32 data is in a Go buffer used by this call only: no copy.
	return vals, nil
}
