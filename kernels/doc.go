// Package kernels holds every numerical hot loop of the engine: matrix-vector
// and matrix-matrix products over f32, f16, bf16 and int8 weights, norms,
// activations, rotary embeddings, softmax and attention over a KV cache.
//
// Each kernel has a portable pure-Go implementation (the files named
// *_generic.go, which also serve as the reference in tests) and, on amd64,
// assembly versions for AVX2+FMA+F16C and AVX-512 (with VNNI for int8).
// The fastest path the CPU supports is chosen at start-up. Two switches
// override the choice:
//
//   - the build tag purego compiles only the generic code;
//   - the environment variable CELLM_KERNELS=generic|avx2|avx512, read once at
//     start-up, forces a path (a path the CPU lacks falls back to the best
//     available one).
//
// Large operations are split across a small pool of persistent worker
// goroutines (see SetThreads). Workers block on channels when idle, so the
// package never spins on a busy machine. Calls made while another call is
// using the pool run on the calling goroutine instead of waiting.
//
// Size mismatches between arguments are programmer errors and panic with a
// message naming the function and the offending lengths.
package kernels
