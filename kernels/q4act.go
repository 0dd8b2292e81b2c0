package kernels

// q4Act is one chunk of up to q4Chunk activations laid out for an int4
// kernel that unpacks 64 weight bytes at once: the low nibbles (even
// columns) of byte i meet lo[i], the high nibbles (odd columns) hi[i]. The
// int32 lanes of a dot product over lo or hi then each cover 8 consecutive
// columns (lane l: columns 8l..8l+7 of the chunk), all in one q8Block, and
// ls and corr hold per lane the block's activation scale and -8 times the
// sum of the 8 activations (the correction for weights stored as q+8). A
// short last chunk is zero beyond its columns.
type q4Act struct {
	lo, hi [q4Chunk / 2]int8
	ls     [q4Chunk / 8]float32
	corr   [q4Chunk / 8]int32
}

// q4Chunk is the number of columns in one q4Act.
const q4Chunk = 128

// chunkOrderQ4 fills q.q4 from q.q and q.ls.
func (q *q8Vec) chunkOrderQ4() {
	n := len(q.q)
	nch := (n + q4Chunk - 1) / q4Chunk
	if cap(q.q4) < nch {
		q.q4 = make([]q4Act, nch)
	}
	q.q4 = q.q4[:nch]
	for k := range q.q4 {
		a := &q.q4[k]
		*a = q4Act{}
		c0 := k * q4Chunk
		src := q.q[c0:min(c0+q4Chunk, n)]
		for j := range len(src) / 2 {
			a.lo[j], a.hi[j] = src[2*j], src[2*j+1]
		}
		for l := range len(src) / 8 {
			var s int32
			for _, v := range src[8*l : 8*l+8] {
				s += int32(v)
			}
			a.corr[l] = -8 * s
			a.ls[l] = q.ls[(c0+8*l)/4]
		}
	}
}
