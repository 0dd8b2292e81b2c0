// Package models defines what every text architecture provides to the
// engine (the Decoder interface and its batched Step) and the
// registry that maps a .cellm header's model_type to the loader of that
// architecture.
//
// An architecture lives in its own folder under models/ (models/llama,
// models/idefics3, ...) and registers itself from an init function:
//
//	func init() { models.Register("llama", load) }
//
// Importing models/all links every architecture in.
package models

import (
	"errors"

	"github.com/cellm-ai/cellm-go/kvcache"
)

// Spec is what the engine needs to know of a decoder, whatever its
// architecture (each architecture has its own, richer Config).
type Spec struct {
	ModelType string // the registry key the decoder was loaded under
	Vocab     int    // logits per position
	Hidden    int    // width of an embedding / hidden row
	// Layers, KVHeads and HeadDim shape the KV cache (kvcache.Config).
	Layers, KVHeads, HeadDim int
	MaxPositions             int   // max_position_embeddings (0 if unknown)
	BOS                      int   // beginning-of-sequence id, -1 if none
	EOS                      []int // end-of-sequence ids
	// WindowLayers (nil, or one per layer) marks the sliding-window layers,
	// whose queries see the last Window positions only: their KV cache
	// keeps just that window (kvcache.Config.WindowLayers).
	WindowLayers []bool
	Window       int
}

// CacheConfig returns the KV cache shape of c with the given storage type
// and budget.
func (c Spec) CacheConfig(dtype kvcache.DType, budgetBytes int64) kvcache.Config {
	cc := kvcache.Config{Layers: c.Layers, KVHeads: c.KVHeads, HeadDim: c.HeadDim, DType: dtype, BudgetBytes: budgetBytes}
	if c.WindowLayers != nil {
		cc.WindowLayers, cc.Window = append([]bool(nil), c.WindowLayers...), c.Window
	}
	return cc
}

// Logits selects which logits a Step computes for one sequence.
type Logits uint8

// Logits modes.
const (
	NoLogits   Logits = iota // only fill the cache
	LastLogits               // the logits of the sequence's last new position (Vocab values)
	AllLogits                // the logits of every new position (n x Vocab values)
)

// Input is one sequence's part of a batched Step: n new positions
// appended to Seq at positions Seq.Len() .. Seq.Len()+n-1, given as token
// ids or as input embeddings.
type Input struct {
	// Seq is the sequence's KV cache; its pool must have the decoder's
	// cache shape (Spec.CacheConfig). Step reserves room for the new
	// positions, stores their keys and values and commits them.
	Seq *kvcache.Seq
	// Tokens are the new positions' ids (a prefill chunk, or one decode
	// token). Leave nil to give Embeds instead.
	Tokens []int
	// Embeds are precomputed input embeddings (n x Hidden), used when
	// Tokens is nil: for example token embeddings with image features
	// spliced in.
	Embeds []float32
	// Logits selects the logits written to LogitsOut (len Vocab for
	// LastLogits, n*Vocab for AllLogits).
	Logits    Logits
	LogitsOut []float32
	// Hidden, if not nil (len n*Hidden), receives the new positions' hidden
	// states after the final norm: the rows the LM head projects (see
	// Decoder.LMHead), for scoring long texts without n x Vocab logits.
	Hidden []float32
}

// Len returns the number of new positions of the input.
func (in *Input) Len(hidden int) int {
	if in.Tokens != nil {
		return len(in.Tokens)
	}
	if hidden <= 0 {
		return 0
	}
	return len(in.Embeds) / hidden
}

// Workspace is the scratch memory of one caller of Decoder.Step. It is
// made by the decoder's NewWorkspace, grows to the largest step it served,
// and must be used by one goroutine at a time; the decoder itself stays
// immutable and shareable.
type Workspace interface {
	// Bytes returns the scratch memory held.
	Bytes() int64
}

// Decoder is a loaded decoder-only language model. It is immutable and safe
// for concurrent use; every mutable state lives in kvcache sequences and
// workspaces owned by the callers.
type Decoder interface {
	// Spec returns the decoder's shape.
	Spec() Spec
	// Embed writes the input embeddings of tokens into dst (len(tokens) x Hidden).
	Embed(dst []float32, tokens []int) error
	// NewWorkspace returns empty scratch memory for Step.
	NewWorkspace() Workspace
	// Step runs one batched forward pass over the inputs of several
	// sequences (any mix of prefill chunks and single decode
	// tokens): every projection runs as one matrix product over the rows of
	// all inputs, so the weights are read once per step; rotary embeddings,
	// cache writes and attention run per sequence. Room for every input is
	// reserved before any computation: a full pool returns an error
	// wrapping kvcache.ErrBudget and no sequence's length changes. Each Seq
	// must appear at most once.
	Step(ws Workspace, batch []Input) error
	// LMHead projects n final-norm hidden rows (Input.Hidden) to logits
	// (n x Vocab).
	LMHead(logits, hidden []float32, n int) error
}

// Errors of the registry and of Step, for errors.Is.
var (
	// ErrUnknownArchitecture: no loader is registered for the model_type.
	ErrUnknownArchitecture = errors.New("models: unknown architecture")
	// ErrUnusedTensor: the file holds tensors the architecture does not use.
	ErrUnusedTensor = errors.New("models: tensor not used by the architecture")
	// ErrBadInput: a Step input is malformed (length, token range, duplicate Seq, cache shape).
	ErrBadInput = errors.New("models: bad input")
)
