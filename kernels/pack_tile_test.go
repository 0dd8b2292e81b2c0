package kernels

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestPackTileRowEqualsGeneric: packTileRow (AVX-512 where the CPU has
// it) writes exactly the bytes of its pure-Go twin, and no other byte of
// the tile, for int8 and int4 offsets, every lane, extreme values (all
// -128, all 127) and random ones.
func TestPackTileRowEqualsGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for _, blocks := range []int{1, 2, 18, 48} {
		for _, off := range []int32{128, 8} {
			for _, fill := range []string{"random", "min", "max"} {
				q := make([]byte, blocks*q8Block)
				for i := range q {
					switch fill {
					case "random":
						q[i] = byte(r.IntN(256))
					case "min":
						q[i] = 0x80
					case "max":
						q[i] = 0x7f
					}
				}
				ls := randVec(r, blocks*q8Block/4, 1)
				for lane := 0; lane < 64; lane += 4 {
					name := fmt.Sprintf("blocks=%d/off=%d/%s/lane=%d", blocks, off, fill, lane)
					got := make([]byte, blocks*qgBlockBytes)
					for i := range got {
						got[i] = byte(r.IntN(256))
					}
					want := append([]byte(nil), got...)
					packTileRow(got, q, ls, lane, off)
					packTileRowGeneric(want, q, ls, lane, off)
					if len(got) != len(want) || !bytes.Equal(got, want) {
						for i := range want {
							if got[i] != want[i] {
								t.Fatalf("%s: byte %d = %#x, generic %#x", name, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkPackTileRow measures packing one quantized row of SmolLM2-135M's
// widths (576: q/k/v, o, gate/up inputs; 1536: down's) into its tile.
func BenchmarkPackTileRow(b *testing.B) {
	r := rand.New(rand.NewPCG(73, 74))
	for _, cols := range []int{576, 1536} {
		q := make([]byte, cols)
		for i := range q {
			q[i] = byte(r.IntN(256))
		}
		ls := randVec(r, cols/4, 1)
		tile := make([]byte, cols/q8Block*qgBlockBytes)
		for _, impl := range []struct {
			name string
			fn   func(tile, q []byte, ls []float32, lane int, off int32)
		}{{"generic", packTileRowGeneric}, {"dispatch", packTileRow}} {
			b.Run(fmt.Sprintf("cols=%d/%s", cols, impl.name), func(b *testing.B) {
				b.SetBytes(int64(cols))
				lane := 0
				for b.Loop() {
					impl.fn(tile, q, ls, lane, 128)
					lane = (lane + 4) & 63
				}
			})
		}
	}
}
