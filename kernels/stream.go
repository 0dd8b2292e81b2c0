package kernels

import "encoding/binary"

// streamReadGeneric is the portable streamRead: eight independent 64-bit
// ORs per 64 bytes.
func streamReadGeneric(p []byte) uint64 {
	var a0, a1, a2, a3, a4, a5, a6, a7 uint64
	for len(p) >= 64 {
		a0 |= binary.LittleEndian.Uint64(p[0:])
		a1 |= binary.LittleEndian.Uint64(p[8:])
		a2 |= binary.LittleEndian.Uint64(p[16:])
		a3 |= binary.LittleEndian.Uint64(p[24:])
		a4 |= binary.LittleEndian.Uint64(p[32:])
		a5 |= binary.LittleEndian.Uint64(p[40:])
		a6 |= binary.LittleEndian.Uint64(p[48:])
		a7 |= binary.LittleEndian.Uint64(p[56:])
		p = p[64:]
	}
	for _, v := range p {
		a0 |= uint64(v)
	}
	return a0 | a1 | a2 | a3 | a4 | a5 | a6 | a7
}
