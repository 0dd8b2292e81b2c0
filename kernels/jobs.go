package kernels

// jobs holds one job value per parallel kernel in each task (see pool), so
// that handing a job to workers needs no allocation.
type jobs struct {
	matVec  matVecJob
	matVecs matVecsJob
	matMul  matMulJob
	matRows matRowsJob
	attn    attnJob
	gemm    gemmJob
	packX   packXJob

	qgemm       qgemmMultiJob
	qgemmPack   qgemmPackJob
	qgemmGuided qgemmGuidedJob

	packBF16  packBF16Job
	gemmBF16  gemmBF16Job
	layerNorm layerNormJob
	geluRows  geluRowsJob

	attnBF16      bf16Attn
	attnBF16Pack  attnBF16PackJob
	attnBF16Block attnBF16BlockJob

	attnBlocked blockedAttn
	attnPack    attnPackJob
	attnBlock   attnBlockJob
	paged       pagedJob
	decode      decodeJob

	fn   funcJob
	each eachJob
}
