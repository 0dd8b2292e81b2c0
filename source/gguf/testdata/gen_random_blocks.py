# Writes random_blocks.bin / random_blocks.json: random blocks of every
# quantized type gguf-py dequantizes (finite random f16 scales, subnormals
# included) and the sha256 of gguf-py's dequantization as float32 LE.
# Run with gguf-py's `gguf` package (quants.py) importable:
#   python3 gen_random_blocks.py
import hashlib, json
import numpy as np
from gguf.constants import GGMLQuantizationType as T, GGML_QUANT_SIZES
from gguf.quants import dequantize

# byte offsets of the f16 fields of each block type
F16_FIELDS = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
              "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
              "IQ4_NL": [0], "IQ4_XS": [0]}

rng = np.random.default_rng(20261206)
blob, entries = bytearray(), []
for name, fields in F16_FIELDS.items():
    qt = T[name]
    block_size, type_size = GGML_QUANT_SIZES[qt]
    n_blocks = 64 if block_size == 32 else 16
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in fields:
        bits = rng.integers(0, 0x10000, size=n_blocks, dtype=np.uint32)
        bits = np.where((bits >> 10) & 31 == 31, bits & ~np.uint32(1 << 14), bits).astype(np.uint16)
        blocks[:, off:off + 2] = bits.view(np.uint8).reshape(n_blocks, 2)
    raw = blocks.tobytes()
    values = dequantize(blocks.reshape(1, -1), qt).astype(np.float32).ravel()
    assert values.size == n_blocks * block_size and np.isfinite(values).all()
    entries.append({"type": name, "offset": len(blob), "nbytes": len(raw), "n_values": int(values.size),
                    "sha256_dequant_f32le": hashlib.sha256(values.astype("<f4").tobytes()).hexdigest()})
    blob += raw
open("random_blocks.bin", "wb").write(blob)
json.dump({"made_by": "gen_random_blocks.py with gguf-py's gguf.quants.dequantize", "blocks": entries},
          open("random_blocks.json", "w"), indent=1)
