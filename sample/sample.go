// Package sample picks the next token from a row of logits: greedy
// (temperature 0) or random sampling with temperature, top-k, top-p
// (nucleus), min-p and a repetition penalty, all with Hugging Face
// transformers semantics, driven by a seeded deterministic random generator.
//
// The processing order is that of transformers' generate: repetition
// penalty, temperature, top-k, top-p, min-p, then a draw from the
// renormalized distribution. A Sampler owns its scratch buffers and does not
// allocate per token; it is not safe for concurrent use.
package sample

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cellm-ai/cellm-go/kernels"
)

// Options configure a Sampler. The zero value is greedy decoding.
type Options struct {
	// Temperature divides the logits; 0 selects greedy decoding (argmax).
	Temperature float32
	// TopK keeps the K most likely tokens (ties with the K-th included); 0 disables.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches TopP; 0 or 1 disables.
	TopP float32
	// MinP drops tokens whose probability is below MinP times the largest
	// probability; 0 disables.
	MinP float32
	// RepetitionPenalty divides positive logits and multiplies negative
	// logits of every token already in the history (prompt and generated
	// tokens); 0 or 1 disables. Applied in greedy mode too.
	RepetitionPenalty float32
	// Seed seeds the random generator: the same seed, options and inputs
	// give the same tokens.
	Seed uint64
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	switch {
	case !(o.Temperature >= 0) || math.IsInf(float64(o.Temperature), 0):
		return fmt.Errorf("sample: temperature %v must be >= 0 and finite", o.Temperature)
	case o.TopK < 0:
		return fmt.Errorf("sample: top-k %d must be >= 0", o.TopK)
	case !(o.TopP >= 0 && o.TopP <= 1):
		return fmt.Errorf("sample: top-p %v must be in [0, 1]", o.TopP)
	case !(o.MinP >= 0 && o.MinP <= 1):
		return fmt.Errorf("sample: min-p %v must be in [0, 1]", o.MinP)
	case !(o.RepetitionPenalty >= 0) || math.IsInf(float64(o.RepetitionPenalty), 0):
		return fmt.Errorf("sample: repetition penalty %v must be >= 0 and finite", o.RepetitionPenalty)
	}
	return nil
}

// Greedy reports whether the options select argmax decoding.
func (o *Options) Greedy() bool { return o.Temperature == 0 }

// candidate is a token still in the running, with its probability.
type candidate struct {
	id int32
	p  float32
}

// Sampler draws tokens from logits over a fixed vocabulary.
type Sampler struct {
	opts  Options
	vocab int
	rng   *rand.Rand
	pcg   *rand.PCG

	work  []float32   // penalized logits
	vals  []float32   // scaled logits of the candidates, then their probabilities
	cands []candidate // candidates
	seen  []uint32    // seen[id] == stamp marks a penalized token
	stamp uint32
}

// New returns a Sampler for logits rows of length vocab.
func New(vocab int, opts Options) (*Sampler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if vocab <= 0 {
		return nil, fmt.Errorf("sample: vocabulary size %d must be positive", vocab)
	}
	s := &Sampler{opts: opts, vocab: vocab, pcg: rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)}
	s.rng = rand.New(s.pcg)
	if s.penalty() {
		s.work = make([]float32, vocab)
		s.seen = make([]uint32, vocab)
	}
	if !opts.Greedy() {
		s.vals = make([]float32, vocab)
		s.cands = make([]candidate, vocab)
	}
	return s, nil
}

// Options returns the sampler's options.
func (s *Sampler) Options() Options { return s.opts }

// Reseed restarts the random sequence from seed.
func (s *Sampler) Reseed(seed uint64) { s.pcg.Seed(seed, seed^0x9e3779b97f4a7c15) }

func (s *Sampler) penalty() bool {
	return s.opts.RepetitionPenalty != 0 && s.opts.RepetitionPenalty != 1
}

// Sample returns the next token for logits (len vocab; not modified).
// history holds the tokens the repetition penalty applies to (the prompt
// and the tokens generated so far); ids outside the vocabulary are ignored.
func (s *Sampler) Sample(logits []float32, history []int) int {
	if len(logits) != s.vocab {
		panic(fmt.Sprintf("sample: %d logits for a vocabulary of %d", len(logits), s.vocab))
	}
	w := logits
	if s.penalty() {
		w = s.applyPenalty(logits, history)
	}
	if s.opts.Greedy() {
		return Argmax(w)
	}
	return s.draw(w)
}

// applyPenalty copies logits to s.work and penalizes each distinct token of
// history once (as transformers' gather/scatter does).
func (s *Sampler) applyPenalty(logits []float32, history []int) []float32 {
	copy(s.work, logits)
	s.stamp++
	if s.stamp == 0 { // wrapped: clear the marks
		clear(s.seen)
		s.stamp = 1
	}
	p := s.opts.RepetitionPenalty
	for _, t := range history {
		if t < 0 || t >= s.vocab || s.seen[t] == s.stamp {
			continue
		}
		s.seen[t] = s.stamp
		if v := s.work[t]; v > 0 {
			s.work[t] = v / p
		} else {
			s.work[t] = v * p
		}
	}
	return s.work
}

// Argmax returns the index of the first largest value of x (NaN is never
// chosen unless every value is NaN): the greedy choice. x must not be empty.
//
// Four independent lanes (indices i%4) each keep their first largest
// value, so that the comparisons do not wait for one another; a batched
// decode step picks a token from 49152 logits per sequence.
func Argmax(x []float32) int {
	if len(x) < 8 {
		return argmaxFrom(x, 0, 1)
	}
	var best [4]int
	var bv [4]float32
	for j := range 4 {
		best[j], bv[j] = j, x[j]
	}
	i := 4
	for ; i+4 <= len(x); i += 4 {
		v := (*[4]float32)(x[i : i+4])
		if v[0] > bv[0] || bv[0] != bv[0] {
			best[0], bv[0] = i, v[0]
		}
		if v[1] > bv[1] || bv[1] != bv[1] {
			best[1], bv[1] = i+1, v[1]
		}
		if v[2] > bv[2] || bv[2] != bv[2] {
			best[2], bv[2] = i+2, v[2]
		}
		if v[3] > bv[3] || bv[3] != bv[3] {
			best[3], bv[3] = i+3, v[3]
		}
	}
	for ; i < len(x); i++ {
		j := i % 4
		if x[i] > bv[j] || bv[j] != bv[j] {
			best[j], bv[j] = i, x[i]
		}
	}
	// The largest lane value, the lowest index among equal ones; a lane
	// holds NaN only if all its values are NaN.
	b := -1
	for j := range 4 {
		if bv[j] != bv[j] {
			continue
		}
		if b < 0 || bv[j] > bv[b] || bv[j] == bv[b] && best[j] < best[b] {
			b = j
		}
	}
	if b < 0 {
		return len(x) - 1 // every value is NaN
	}
	return best[b]
}

// argmaxFrom is Argmax's definition, one value after the other: the
// first largest of x[start], x[start+step], ..., the last index if every
// value is NaN.
func argmaxFrom(x []float32, start, step int) int {
	best, bv := start, x[start]
	for i := start; i < len(x); i += step {
		if v := x[i]; v > bv || bv != bv {
			best, bv = i, v
		}
	}
	return best
}

// draw applies temperature, top-k, top-p and min-p to w and samples a token.
func (s *Sampler) draw(w []float32) int {
	o := &s.opts
	cands := s.cands[:0]
	if o.TopK > 0 && o.TopK < len(w) {
		kth := kthLargest(s.vals, w, o.TopK)
		for i, v := range w {
			if v >= kth {
				cands = append(cands, candidate{id: int32(i)})
			}
		}
	} else {
		for i := range w {
			cands = append(cands, candidate{id: int32(i)})
		}
	}
	// Probabilities of the candidates at this temperature.
	vals := s.vals[:len(cands)]
	inv := 1 / o.Temperature
	for i, c := range cands {
		vals[i] = w[c.id] * inv
	}
	kernels.Softmax(vals)
	for i := range cands {
		cands[i].p = vals[i]
	}
	if o.TopP > 0 && o.TopP < 1 {
		cands = topP(cands, o.TopP)
	}
	if o.MinP > 0 {
		var pmax float32
		for _, c := range cands {
			pmax = max(pmax, c.p)
		}
		thr := o.MinP * pmax
		k := 0
		for _, c := range cands {
			if c.p >= thr {
				cands[k] = c
				k++
			}
		}
		cands = cands[:k]
	}
	var total float64
	for _, c := range cands {
		total += float64(c.p)
	}
	r := s.rng.Float64() * total
	for _, c := range cands {
		r -= float64(c.p)
		if r < 0 {
			return int(c.id)
		}
	}
	// Rounding left r >= 0: take the last candidate with non-zero probability.
	for i := len(cands) - 1; i >= 0; i-- {
		if cands[i].p > 0 {
			return int(cands[i].id)
		}
	}
	return int(cands[0].id)
}

// topP keeps the most likely candidates whose cumulative probability reaches
// p, as transformers' TopPLogitsWarper: in ascending order of probability,
// tokens whose cumulative probability (including their own) is <= 1-p are
// dropped; the most likely token is always kept. It runs in expected linear
// time (no full sort) and reorders cands.
func topP(cands []candidate, p float32) []candidate {
	// Tokens below (1-p)/n together hold less than 1-p and are the least
	// likely, so they are dropped in any case: filter them first.
	cut := float64(1 - p)
	thr := float32(cut / float64(len(cands)))
	var below float64
	k := 0
	for _, c := range cands {
		if c.p >= thr {
			cands[k] = c
			k++
		} else {
			below += float64(c.p)
		}
	}
	cands = cands[:k]
	v := nucleusMin(cands, below, cut)
	k = 0
	for _, c := range cands {
		if c.p >= v {
			cands[k] = c
			k++
		}
	}
	return cands[:k]
}

// nucleusMin returns the smallest probability v in a such that base (the
// mass below every candidate) plus the mass of all candidates with
// probability <= v exceeds cut, or the largest probability if none does.
// It is a three-way quickselect on cumulative mass and reorders a.
func nucleusMin(a []candidate, base, cut float64) float32 {
	var top float32
	for _, c := range a {
		top = max(top, c.p)
	}
	acc := base
	lo, hi := 0, len(a)
	for lo < hi {
		pivot := a[lo+(hi-lo)/2].p
		lt, i, gt := lo, lo, hi
		for i < gt {
			switch {
			case a[i].p < pivot:
				a[lt], a[i] = a[i], a[lt]
				lt++
				i++
			case a[i].p > pivot:
				gt--
				a[i], a[gt] = a[gt], a[i]
			default:
				i++
			}
		}
		var less, eq float64
		for _, c := range a[lo:lt] {
			less += float64(c.p)
		}
		for _, c := range a[lt:gt] {
			eq += float64(c.p)
		}
		switch {
		case acc+less > cut:
			hi = lt
		case acc+less+eq > cut:
			return pivot
		default:
			acc += less + eq
			lo = gt
		}
	}
	return top
}

// kthLargest returns the k-th largest value of w (1 <= k <= len(w)), using
// buf (len >= len(w)) as scratch.
func kthLargest(buf, w []float32, k int) float32 {
	a := buf[:len(w)]
	copy(a, w)
	// Quickselect for index k-1 in descending order, median-of-three pivots.
	lo, hi, target := 0, len(a)-1, k-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if a[mid] > a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] > a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[mid] > a[hi] {
			a[mid], a[hi] = a[hi], a[mid]
		}
		pivot := a[hi] // median of the three
		i, j := lo, hi
		for i <= j {
			for a[i] > pivot {
				i++
			}
			for a[j] < pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case target <= j:
			hi = j
		case target >= i:
			lo = i
		default:
			return a[target]
		}
	}
	return a[target]
}
