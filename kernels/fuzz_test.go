package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cellm-ai/cellm-go/internal/half"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
)

// FuzzMatVec feeds arbitrary shapes and weight bytes to every backend and
// checks each against the float64 reference. Weights are read from the bytes
// as the matrix type's own encoding (non-finite values are replaced), so the
// fuzzer explores denormals, huge magnitudes and odd sizes.
func FuzzMatVec(f *testing.F) {
	f.Add(uint8(0), uint8(3), uint8(5), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(uint8(1), uint8(17), uint8(33), []byte{0x00, 0x3c, 0xff, 0x7b, 0x01, 0x00})
	f.Add(uint8(2), uint8(4), uint8(64), []byte{0x80, 0x3f, 0x00, 0xc0})
	f.Add(uint8(3), uint8(9), uint8(100), []byte{127, 129, 0, 1, 255})
	f.Add(uint8(4), uint8(5), uint8(63), []byte{0x0f, 0xf0, 0x88, 0x17})
	f.Add(uint8(9), uint8(3), uint8(127), []byte{0x00, 0xff, 0x80})
	f.Add(uint8(8), uint8(6), uint8(95), []byte{0x80, 0x7f, 0x01, 0xfe})
	f.Fuzz(func(t *testing.T, typ, rows8, cols8 uint8, data []byte) {
		dt := DType(typ % 5)
		rows, cols := int(rows8)%70+1, int(cols8)%300+1
		if dt == Q4 {
			cols += cols % 2 // int4 rows hold whole bytes
		}
		m := &Matrix{Type: dt, Rows: rows, Cols: cols}
		ref := make([]float64, rows*cols)
		byteAt := func(i int) byte {
			if len(data) == 0 {
				return byte(i * 37)
			}
			return data[i%len(data)] ^ byte(i/len(data))
		}
		switch dt {
		case F32:
			m.F32 = make([]float32, rows*cols)
			for i := range m.F32 {
				v := math.Float32frombits(uint32(byteAt(4*i)) | uint32(byteAt(4*i+1))<<8 | uint32(byteAt(4*i+2))<<16 | uint32(byteAt(4*i+3))<<24)
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 1e30 {
					v = 1
				}
				m.F32[i], ref[i] = v, float64(v)
			}
		case F16, BF16:
			m.Half = make([]uint16, rows*cols)
			for i := range m.Half {
				h := uint16(byteAt(2*i)) | uint16(byteAt(2*i+1))<<8
				var v float32
				if dt == F16 {
					v = half.F16ToF32(h)
				} else {
					v = half.BF16ToF32(h)
				}
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 1e30 {
					h, v = 0, 0
				}
				m.Half[i], ref[i] = h, float64(v)
			}
		case Q8:
			// typ >= 5 picks groups of 32 where they divide the row.
			if typ >= 5 && cols%32 == 0 {
				m.Group = 32
			}
			g := m.group()
			m.Q8 = make([]int8, rows*cols)
			m.Scale = make([]float32, rows*cols/g)
			for i := range m.Scale {
				m.Scale[i] = float32(byteAt(i)) / 1000
			}
			for i := range m.Q8 {
				m.Q8[i] = int8(byteAt(i))
				ref[i] = float64(m.Q8[i]) * float64(m.Scale[i/g])
			}
		case Q4:
			// typ >= 5 picks groups of 32 where they divide the row.
			if typ >= 5 && cols%32 == 0 {
				m.Group = 32
			}
			g := m.group()
			m.Q4 = make([]byte, rows*cols/2)
			m.Scale = make([]float32, rows*cols/g)
			for i := range m.Scale {
				m.Scale[i] = float32(byteAt(i+3)) / 1000
			}
			for i := range m.Q4 {
				m.Q4[i] = byteAt(i)
			}
			for i := range ref {
				v := int(m.Q4[i/2]>>(4*(i%2))&15) - 8
				ref[i] = float64(v) * float64(m.Scale[i/g])
			}
		}
		x := make([]float32, cols)
		for i := range x {
			x[i] = float32(int(byteAt(i+7))-128) / 16
		}
		want, mag := refMatVec(ref, rows, cols, x)
		// Rounding x to int8 moves each x[c] by at most half its block's
		// step; qerr bounds the effect on each row.
		qerr := make([]float64, rows)
		for b := 0; b+q8Block <= cols; b += q8Block {
			var amax float64
			for _, v := range x[b : b+q8Block] {
				amax = math.Max(amax, math.Abs(float64(v)))
			}
			for r := range qerr {
				for c := b; c < b+q8Block; c++ {
					qerr[r] += math.Abs(ref[r*cols+c]) * amax / 254
				}
			}
		}
		for _, b := range backends {
			y := make([]float32, rows)
			matVec(b, y, m, x)
			for r := range y {
				bound := 1e-5*mag[r] + 1e-30
				perRowQ8 := dt == Q8 && m.group() == cols // the per-row kernels
				if (perRowQ8 && b.quantizeQ8 != nil) || (!perRowQ8 && m.Type.traits().quantized && m.group()%q8Block == 0) {
					bound += 1.001 * qerr[r]
				}
				if d := numcheck.Diff(float64(y[r]), want[r]); d > bound {
					t.Fatalf("%s %s %dx%d row %d: got %g want %g (mag %g)", b.name, dt, rows, cols, r, y[r], want[r], mag[r])
				}
			}
		}
	})
}

// FuzzAttentionDecodeQ8 runs AttentionDecode over int8 blocks of arbitrary
// shapes (head size, GQA group, block size, position, sliding window, one
// to three sequences) on every backend with group kernels, and checks it
// against the same backend with the pure-Go int8 group kernels: both are
// exact integer arithmetic with the same roundings, so the results must be
// identical (and finite: the values are finite).
func FuzzAttentionDecodeQ8(f *testing.F) {
	f.Add(uint64(1), uint8(1), uint8(3), uint8(16), uint16(511), uint8(0), uint8(1))
	f.Add(uint64(2), uint8(0), uint8(1), uint8(7), uint16(40), uint8(20), uint8(2))
	f.Add(uint64(3), uint8(2), uint8(5), uint8(64), uint16(150), uint8(0), uint8(3))
	f.Add(uint64(4), uint8(1), uint8(8), uint8(1), uint16(5), uint8(3), uint8(1))
	// Blocks of 16, 32 and 48 (the AVX-512 scores kernel's tiles), windows
	// starting inside a tile, a head size the scores kernel takes but not
	// the weighted sums'.
	f.Add(uint64(5), uint8(1), uint8(3), uint8(15), uint16(300), uint8(37), uint8(3))
	f.Add(uint64(6), uint8(4), uint8(2), uint8(31), uint16(90), uint8(0), uint8(2))
	f.Add(uint64(7), uint8(3), uint8(4), uint8(47), uint16(200), uint8(70), uint8(1))
	f.Fuzz(func(t *testing.T, seed uint64, hdSel, g8, bt8 uint8, pos16 uint16, window8, seqs8 uint8) {
		c := newDecodeFuzzCase([]int{32, 64, 96, 128, 36}, hdSel, g8, bt8, window8, seqs8)
		hd, g, bt, kv, heads, window := c.hd, c.g, c.bt, c.kv, c.heads, c.window
		r := rand.New(rand.NewPCG(seed, 99))
		qs := c.queries(r, pos16, func(d *DecodeQuery) {
			k8, v8 := make([]int8, kv*bt*hd), make([]int8, kv*bt*hd)
			for j := range k8 {
				k8[j], v8[j] = int8(r.IntN(255)-127), int8(r.IntN(255)-127)
			}
			d.K8, d.V8 = append(d.K8, k8), append(d.V8, v8)
			d.KScale, d.VScale = append(d.KScale, randVec(r, kv*bt, 0.02)), append(d.VScale, randVec(r, kv*bt, 0.02))
		})
		for _, b := range backends {
			if b.group == nil {
				continue
			}
			ref := *b
			gk := *b.group
			gk.scoresQ8, gk.wsumQ8 = scoresQ8Generic, wsumQ8Generic
			ref.group = &gk
			what := fmt.Sprintf("%s hd=%d g=%d bt=%d window=%d", b.name, hd, g, bt, window)
			decodeSameAs(t, what, "the generic int8 group kernels", b, &ref, qs, heads, kv, hd, window)
		}
	})
}

// FuzzAttentionDecodeF16 runs AttentionDecode over binary16 and float32
// blocks of arbitrary shapes (head size, GQA group, block size, position,
// sliding window, one to three sequences) on every backend with group
// kernels, and checks it against the same backend with its block-loop
// kernels replaced by Go loops over its per-block kernels (blockScores,
// blockWsum): the same arithmetic on the same rows, so the results must be
// identical (and finite: the values are finite).
func FuzzAttentionDecodeF16(f *testing.F) {
	f.Add(uint64(1), uint8(1), uint8(3), uint8(16), uint16(511), uint8(0), uint8(1), false)
	f.Add(uint64(2), uint8(0), uint8(1), uint8(7), uint16(40), uint8(20), uint8(2), true)
	f.Add(uint64(3), uint8(2), uint8(5), uint8(64), uint16(150), uint8(0), uint8(3), false)
	f.Add(uint64(4), uint8(3), uint8(8), uint8(1), uint16(5), uint8(3), uint8(1), true)
	f.Fuzz(func(t *testing.T, seed uint64, hdSel, g8, bt8 uint8, pos16 uint16, window8, seqs8 uint8, f32 bool) {
		c := newDecodeFuzzCase([]int{16, 40, 64, 96}, hdSel, g8, bt8, window8, seqs8)
		hd, g, bt, kv, heads, window := c.hd, c.g, c.bt, c.kv, c.heads, c.window
		r := rand.New(rand.NewPCG(seed, 98))
		qs := c.queries(r, pos16, func(d *DecodeQuery) {
			k, v := randVec(r, kv*bt*hd, 1), randVec(r, kv*bt*hd, 1)
			if f32 {
				d.K, d.V = append(d.K, k), append(d.V, v)
				return
			}
			k16, v16 := make([]uint16, len(k)), make([]uint16, len(v))
			F32ToF16(k16, k)
			F32ToF16(v16, v)
			d.K16, d.V16 = append(d.K16, k16), append(d.V16, v16)
		})
		for _, b := range backends {
			if b.group == nil {
				continue
			}
			ref := *b
			gk := *b.group
			per := b.group
			gk.scoresBlocksF32 = func(s []float32, k, _ [][]float32, bt, from, n, off int, q []float32, g, hd int) {
				blockScores(per.scoresF32, s, k, bt, from, n, off, q, g, hd)
			}
			gk.scoresBlocksF16 = func(s []float32, k, _ [][]uint16, bt, from, n, off int, q []float32, g, hd int) {
				blockScores(per.scoresF16, s, k, bt, from, n, off, q, g, hd)
			}
			gk.wsumBlocksF32 = func(out []float32, v [][]float32, bt, from, n, off int, p []float32, g, hd int) {
				blockWsum(per.wsumF32, out, v, bt, from, n, off, p, g, hd)
			}
			gk.wsumBlocksF16 = func(out []float32, v [][]uint16, bt, from, n, off int, p []float32, g, hd int) {
				blockWsum(per.wsumF16, out, v, bt, from, n, off, p, g, hd)
			}
			ref.group = &gk
			what := fmt.Sprintf("%s f32=%v hd=%d g=%d bt=%d window=%d", b.name, f32, hd, g, bt, window)
			decodeSameAs(t, what, "the per-block group kernels", b, &ref, qs, heads, kv, hd, window)
		}
	})
}

// decodeFuzzCase is the shape a decode fuzz input selects: head size hd
// (from a list), GQA group g, block size bt, kv KV heads, one to three
// sequences and a sliding window below 100.
type decodeFuzzCase struct{ hd, g, bt, kv, heads, seqs, window int }

func newDecodeFuzzCase(hds []int, hdSel, g8, bt8, window8, seqs8 uint8) decodeFuzzCase {
	c := decodeFuzzCase{hd: hds[int(hdSel)%len(hds)], g: int(g8)%8 + 1, bt: int(bt8)%64 + 1, kv: 2,
		seqs: int(seqs8)%3 + 1, window: int(window8) % 100}
	c.heads = c.kv * c.g
	return c
}

// queries makes c.seqs decode queries with random query heads at
// positions from pos16 on (below 700), each with the blocks its position
// needs, added one at a time by addBlock.
func (c decodeFuzzCase) queries(r *rand.Rand, pos16 uint16, addBlock func(d *DecodeQuery)) []DecodeQuery {
	qs := make([]DecodeQuery, c.seqs)
	for i := range qs {
		pos := (int(pos16) + 37*i) % 700
		d := DecodeQuery{Out: make([]float32, c.heads*c.hd), Q: randVec(r, c.heads*c.hd, 1), BlockTokens: c.bt, Pos: pos}
		for range pos/c.bt + 1 {
			addBlock(&d)
		}
		qs[i] = d
	}
	return qs
}

// decodeSameAs runs AttentionDecode over qs with backend b, then with ref
// (b with some kernels replaced, described by against), and fails t unless
// every output of b is finite and equal to ref's (what names the case).
func decodeSameAs(t *testing.T, what, against string, b, ref *backend, qs []DecodeQuery, heads, kv, hd, window int) {
	t.Helper()
	old := active
	defer func() { active = old }()
	active = b
	AttentionDecode(qs, heads, kv, hd, window, 0.125)
	got := make([][]float32, len(qs))
	for i := range qs {
		got[i] = append([]float32(nil), qs[i].Out...)
	}
	active = ref
	AttentionDecode(qs, heads, kv, hd, window, 0.125)
	for i := range qs {
		what := fmt.Sprintf("%s seq %d pos %d", what, i, qs[i].Pos)
		numcheck.Finite(t, what, got[i])
		if d := numcheck.MaxAbs(t, what, got[i], qs[i].Out); d != 0 {
			t.Errorf("%s: max diff %g from %s, want 0", what, d, against)
		}
	}
}
