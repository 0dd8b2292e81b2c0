// Package kernels holds every numerical hot loop of the engine: matrix-vector
// and matrix-matrix products over f32, f16, bf16 and int8 weights, norms,
// activations, rotary embeddings, softmax and attention over a KV cache.
//
// Each kernel has a portable pure-Go implementation (the files named
// *_generic.go, which also serve as the reference in tests) and assembly
// versions: AVX2+FMA+F16C and AVX-512 (F/BW/VL, VNNI for int8) on amd64,
// NEON on arm64. The fastest path the CPU supports is chosen at start-up;
// Implementation reports it. Two switches override the choice:
//
//   - the build tag purego compiles only the generic code;
//   - the environment variable CELLM_KERNELS=generic|avx2|avx512|neon, read
//     once at start-up, forces a path (a path this CPU or build lacks falls
//     back to the best available one).
//
// Paths differ only in rounding, except for Q8 MatVec on SIMD paths, which
// quantizes the activations to int8 (see MatVec).
//
// Large operations are split across a small pool of persistent worker
// goroutines (see SetThreads), in chunks claimed dynamically so that a
// descheduled vCPU delays nobody. Idle workers block on a channel; nothing
// spins. A call made while another call is using the pool runs on its own
// goroutine instead of waiting. In steady state no kernel allocates.
//
// Size mismatches between arguments are programmer errors and panic with a
// message naming the function and the offending lengths.
package kernels
