// Package kernels holds every numerical hot loop of the engine: matrix-vector
// and matrix-matrix products over f32, f16, bf16, int8 and int4 weights
// (quantized ones with a scale per row or per group of columns), norms,
// activations, rotary embeddings, softmax and attention over a KV cache.
//
// Each weight type is described once in a traits table (traits.go): its
// storage check, how a row widens to f32 and its matrix-vector kernel.
// MatVec, MatVecs, MatMul, Matrix.Row and Validate dispatch through it, so
// adding a type is one table entry plus its kernels.
//
// Each kernel has a portable pure-Go implementation (the files named
// *_generic.go, which also serve as the reference in tests) and assembly
// versions: AVX2+FMA+F16C and AVX-512 (F/BW/VL, VNNI for int8) on amd64,
// NEON on arm64, where neondot adds the ARMv8.2 dot product (SDOT) for
// grouped int8 and int4 weights and neon uses SMULL/SADALP instead. The
// fastest path the CPU supports is chosen at start-up; Implementation
// reports it. Two switches override the choice:
//
//   - the build tag purego compiles only the generic code;
//   - the environment variable CELLM_KERNELS=generic|avx2|avx512|neon|neondot, read
//     once at start-up, forces a path (a path this CPU or build lacks falls
//     back to the best available one).
//
// Paths differ only in rounding, except for per-row Q8 MatVec on SIMD paths,
// which quantizes the activations to int8 (see MatVec). Grouped Q8 and Q4
// MatVec quantize them on every path, the pure-Go one included.
//
// Large operations are split across a small pool of persistent worker
// goroutines (see SetThreads), in chunks claimed dynamically so that a
// descheduled vCPU delays nobody. A worker out of work polls for a new call
// for at most 20 µs (decode issues calls microseconds apart), then blocks
// on a channel; nothing spins longer. Concurrent calls each get their own
// task and share the idle workers: a worker that finishes its call's chunks
// helps any other call in progress before sleeping. SetThreads(1) runs every
// call on its caller's goroutine alone. In steady state no kernel allocates.
//
// Size mismatches between arguments are programmer errors and panic with a
// message naming the function and the offending lengths.
package kernels
