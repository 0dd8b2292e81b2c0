// ZERO4 clears four vector registers.
#define ZERO4(A, B, C, D) \
	VPXORD A, A, A \
	VPXORD B, B, B \
	VPXORD C, C, C \
	VPXORD D, D, D

// ZEROHEADS_n clears the accumulators of n query heads of the AVX-512
// attention group kernels: Z0..Z3 for head 0, Z4..Z7 for head 1, and so on.
#define ZEROHEADS_1 ZERO4(Z0, Z1, Z2, Z3)
#define ZEROHEADS_2 ZEROHEADS_1 \
	ZERO4(Z4, Z5, Z6, Z7)
#define ZEROHEADS_3 ZEROHEADS_2 \
	ZERO4(Z8, Z9, Z10, Z11)
#define ZEROHEADS_4 ZEROHEADS_3 \
	ZERO4(Z12, Z13, Z14, Z15)
