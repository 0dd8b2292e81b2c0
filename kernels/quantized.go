package kernels

// The pure-Go kernels for grouped int8 and int4 weights. With int8
// activations (q.ok) and groups that are whole q8Blocks they compute exactly
// what the SIMD kernels compute: per activation block an integer dot product
// scaled by the block's activation scale, per group the sum scaled by the
// weight scale. Otherwise they multiply in float32.

// matVecQ8GGeneric computes rows of a grouped int8 matrix.
func matVecQ8GGeneric(y []float32, w []int8, scale []float32, group int, q *q8Vec) {
	x := q.x
	cols := len(x)
	groups := cols / max(group, 1)
	w = w[:len(y)*cols]
	scale = scale[:len(y)*groups]
	intDots := q.ok && group%q8Block == 0 && len(q.q) == cols
	for r := range y {
		row := w[r*cols : (r+1)*cols]
		var acc float32
		for g := range groups {
			lo, hi := g*group, (g+1)*group
			var s float32
			if intDots {
				for b := lo; b < hi; b += q8Block {
					var d int32
					for i, v := range row[b : b+q8Block] {
						d += int32(v) * int32(q.q[b+i])
					}
					s += float32(d) * q.ls[b/4]
				}
			} else {
				for c := lo; c < hi; c++ {
					s += float32(row[c]) * x[c]
				}
			}
			acc += s * scale[r*groups+g]
		}
		y[r] = acc
	}
}

// matVecQ4Generic computes rows of an int4 matrix (see Matrix for the
// nibble layout).
func matVecQ4Generic(y []float32, w []byte, scale []float32, group int, q *q8Vec) {
	x := q.x
	cols := len(x)
	groups := cols / max(group, 1)
	w = w[:len(y)*cols/2]
	scale = scale[:len(y)*groups]
	intDots := q.ok && group%q8Block == 0 && len(q.q) == cols
	for r := range y {
		row := w[r*cols/2 : (r+1)*cols/2]
		var acc float32
		for g := range groups {
			lo, hi := g*group, (g+1)*group
			var s float32
			if intDots {
				for b := lo; b < hi; b += q8Block {
					var d int32
					for i, v := range row[b/2 : (b+q8Block)/2] {
						d += (int32(v&15)-8)*int32(q.q[b+2*i]) + (int32(v>>4)-8)*int32(q.q[b+2*i+1])
					}
					s += float32(d) * q.ls[b/4]
				}
			} else {
				for c := lo; c < hi; c += 2 {
					v := row[c/2]
					s += float32(int32(v&15)-8)*x[c] + float32(int32(v>>4)-8)*x[c+1]
				}
			}
			acc += s * scale[r*groups+g]
		}
		y[r] = acc
	}
}
