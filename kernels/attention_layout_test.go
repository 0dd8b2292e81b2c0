package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// BenchmarkAttentionDecodeLayout compares, in one process and side by
// side, the decode attention of BenchmarkAttentionDecodeQ8 (SmolLM2-135M,
// context 512) over three layouts of the same KV blocks:
//
//   - block: as kvcache lays blocks out today, one allocation per block of
//     16 positions holding every layer (a KV head's keys of one layer are a
//     1 KiB island, a sequence's consecutive blocks ~184 KiB apart);
//   - layer: one arena per layer, a sequence's blocks consecutive in it,
//     each block that layer's [kv][bt][hd] keys, values (and q8 scales);
//   - head: per layer, sequence and KV head, the keys of all the blocks
//     contiguous, then the values (then the scales): one stream per head
//     (run as kv queries of one KV head each, which the kernel API allows
//     only by splitting a sequence into its KV heads).
//
// Each configuration builds all three layouts first and runs them one after
// the other (checking that they give the same output), so that the machine's
// load drifts as little as possible between them.
func BenchmarkAttentionDecodeLayout(b *testing.B) {
	const heads, kv, hd, bt, layers, ctx = 9, 3, 64, 16, 30, 512
	r := rand.New(rand.NewPCG(79, 80))
	d := newDecodeBenchKV(r, kv, ctx, hd, bt)
	k16, v16, k8, v8, ks, vs := d.k16, d.v16, d.k8, d.v8, d.ks, d.vs
	for _, batch := range []int{1, 8, 16} {
		for _, typ := range []string{"q8", "f16"} {
			bytes := decodeBenchBytes(typ, layers, batch, kv, ctx, hd)
			for _, pages := range []string{"4k", "huge"} {
				type run struct {
					name    string
					qs      [][]DecodeQuery
					hq, kvq int
					unmap   func()
				}
				var runs []*run
				q := randVec(r, heads*hd, 1) // every sequence's query, so that all outputs match
				for _, layout := range []string{"block", "layer", "head"} {
					buf, un, err := mapBuffer(int(bytes)+int(bytes)/8+4<<20, pages == "huge")
					if err != nil {
						b.Skip(err)
					}
					a := &kvArena{buf: buf}
					ru := &run{name: layout, hq: heads, kvq: kv, unmap: un}
					if layout == "head" {
						ru.hq, ru.kvq = heads/kv, 1
					}
					var lk16, lv16 [][][][]uint16
					var lk8, lv8 [][][][]int8
					var lks, lvs [][][][]float32
					if typ == "f16" {
						lk16, lv16, _, _ = layoutBlocks(a, layout, k16, v16, nil, nil, layers, batch, kv, bt, hd)
					} else {
						lk8, lv8, lks, lvs = layoutBlocks(a, layout, k8, v8, ks, vs, layers, batch, kv, bt, hd)
					}
					units := batch * kv / ru.kvq
					ru.qs = make([][]DecodeQuery, layers)
					for l := range layers {
						ru.qs[l] = make([]DecodeQuery, units)
						for u := range units {
							h := u % (kv / ru.kvq) * ru.hq // the unit's first query head
							d := DecodeQuery{Out: make([]float32, ru.hq*hd), Q: q[h*hd : (h+ru.hq)*hd], BlockTokens: bt, Pos: ctx - 1}
							if typ == "f16" {
								d.K16, d.V16 = lk16[l][u], lv16[l][u]
							} else {
								d.K8, d.V8, d.KScale, d.VScale = lk8[l][u], lv8[l][u], lks[l][u], lvs[l][u]
							}
							ru.qs[l][u] = d
						}
					}
					runs = append(runs, ru)
				}
				// Same results from every layout (layer 0, first sequence).
				for _, ru := range runs {
					AttentionDecode(ru.qs[0], ru.hq, ru.kvq, hd, 0, 0.125)
					var out []float32
					for u := range kv / ru.kvq {
						out = append(out, ru.qs[0][u].Out...)
					}
					if want := runs[0].qs[0][0].Out; !slices.Equal(out, want) {
						b.Fatalf("layout %s: output differs from layout %s", ru.name, runs[0].name)
					}
				}
				for _, th := range []int{1, 2} {
					for _, ru := range runs {
						b.Run(fmt.Sprintf("B=%d/%s/pages=%s/threads=%d/layout=%s", batch, typ, pages, th, ru.name), func(b *testing.B) {
							SetThreads(th)
							defer SetThreads(0)
							b.SetBytes(bytes)
							for b.Loop() {
								for l := range ru.qs {
									AttentionDecode(ru.qs[l], ru.hq, ru.kvq, hd, 0, 0.125)
								}
							}
							b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
						})
					}
				}
				for _, ru := range runs {
					ru.unmap()
				}
			}
		}
	}
}

// layoutBlocks copies one sequence's blocks k and v of [kv][bt][hd] rows
// (and their row scales ks and vs, if not nil) into a, as every layer's
// cache of batch sequences laid out as layout says (see
// BenchmarkAttentionDecodeLayout), and returns the block tables
// [layer][unit][block], a unit being a sequence (layouts block and layer)
// or a sequence's KV head (layout head, blocks of bt*hd rows).
func layoutBlocks[T int8 | uint16](a *kvArena, layout string, k, v [][]T, ks, vs [][]float32, layers, batch, kv, bt, hd int) (lk, lv [][][][]T, lks, lvs [][][][]float32) {
	nb, e, se := len(k), kv*bt*hd, kv*bt
	units := batch
	if layout == "head" {
		units = batch * kv
	}
	lk, lv = make([][][][]T, layers), make([][][][]T, layers)
	lks, lvs = make([][][][]float32, layers), make([][][][]float32, layers)
	for l := range layers {
		lk[l], lv[l] = make([][][]T, units), make([][][]T, units)
		lks[l], lvs[l] = make([][][]float32, units), make([][][]float32, units)
		for u := range units {
			lk[l][u], lv[l][u] = make([][]T, nb), make([][]T, nb)
			lks[l][u], lvs[l][u] = make([][]float32, nb), make([][]float32, nb)
		}
	}
	switch layout {
	case "block":
		for i := range batch {
			for blk := range nb {
				data := arenaSlice[T](a, 2*layers*e)
				var sc []float32
				if ks != nil {
					sc = arenaSlice[float32](a, 2*layers*se)
				}
				for l := range layers {
					o := 2 * l * e
					lk[l][i][blk], lv[l][i][blk] = data[o:o+e:o+e], data[o+e:o+2*e:o+2*e]
					copy(lk[l][i][blk], k[blk])
					copy(lv[l][i][blk], v[blk])
					if ks != nil {
						o := 2 * l * se
						lks[l][i][blk], lvs[l][i][blk] = sc[o:o+se:o+se], sc[o+se:o+2*se:o+2*se]
						copy(lks[l][i][blk], ks[blk])
						copy(lvs[l][i][blk], vs[blk])
					}
				}
			}
		}
	case "layer":
		for l := range layers {
			for i := range batch {
				for blk := range nb {
					lk[l][i][blk] = arenaSlice[T](a, e)
					lv[l][i][blk] = arenaSlice[T](a, e)
					copy(lk[l][i][blk], k[blk])
					copy(lv[l][i][blk], v[blk])
					if ks != nil {
						lks[l][i][blk] = arenaSlice[float32](a, se)
						lvs[l][i][blk] = arenaSlice[float32](a, se)
						copy(lks[l][i][blk], ks[blk])
						copy(lvs[l][i][blk], vs[blk])
					}
				}
			}
		}
	case "head":
		he, hs := bt*hd, bt
		for l := range layers {
			for i := range batch {
				for h := range kv {
					u := i*kv + h
					kst, vst := arenaSlice[T](a, nb*he), arenaSlice[T](a, nb*he)
					var kss, vss []float32
					if ks != nil {
						kss, vss = arenaSlice[float32](a, nb*hs), arenaSlice[float32](a, nb*hs)
					}
					for blk := range nb {
						o := blk * he
						lk[l][u][blk], lv[l][u][blk] = kst[o:o+he:o+he], vst[o:o+he:o+he]
						copy(lk[l][u][blk], k[blk][h*he:(h+1)*he])
						copy(lv[l][u][blk], v[blk][h*he:(h+1)*he])
						if ks != nil {
							o := blk * hs
							lks[l][u][blk], lvs[l][u][blk] = kss[o:o+hs:o+hs], vss[o:o+hs:o+hs]
							copy(lks[l][u][blk], ks[blk][h*hs:(h+1)*hs])
							copy(lvs[l][u][blk], vs[blk][h*hs:(h+1)*hs])
						}
					}
				}
			}
		}
	default:
		panic("unknown layout " + layout)
	}
	return lk, lv, lks, lvs
}
