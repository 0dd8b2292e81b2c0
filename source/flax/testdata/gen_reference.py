#!/usr/bin/python3
"""Writes reference.msgpack, a small Flax checkpoint encoded exactly as
flax.serialization.msgpack_serialize does (msgpack.packb of the nested dict,
ndarrays as ext type 1 holding packb((shape, dtype.name, bytes), use_bin_type=True),
oversized arrays as {"__msgpack_chunked_array__": True, "shape": {...}, "chunks": {...}}),
and reference.json: the PyTorch name, dtype, shape and C-order bytes (hex) of every
tensor after transformers' load_flax_weights_in_pytorch_model renaming
(kernel -> weight transposed, embedding/scale -> weight).

Needs Debian's python3-msgpack and python3-numpy (no jax: bfloat16 arrays are
packed with dtype name "bfloat16" from their raw uint16 bits, as jax's dtype
would be).  Run once:  /usr/bin/python3 gen_reference.py
"""
import json

import msgpack
import numpy as np

rng = np.random.default_rng(7)


class BF16:
    """A bfloat16 array held as its uint16 bits."""

    def __init__(self, bits):
        self.bits = bits


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def bf16(*shape):
    return BF16((f32(*shape).view(np.uint32) >> 16).astype(np.uint16))


def ext_pack(x):
    if isinstance(x, BF16):
        return msgpack.ExtType(1, msgpack.packb((x.bits.shape, "bfloat16", x.bits.tobytes("C")), use_bin_type=True))
    if isinstance(x, np.ndarray):
        return msgpack.ExtType(1, msgpack.packb((x.shape, x.dtype.name, x.tobytes("C")), use_bin_type=True))
    raise ValueError(x)


def chunked(arr, chunk_elems):
    flat = arr.reshape(-1)
    chunks = [flat[i:i + chunk_elems] for i in range(0, flat.size, chunk_elems)]
    return {"__msgpack_chunked_array__": True,
            "shape": {str(i): d for i, d in enumerate(arr.shape)},
            "chunks": {str(i): c for i, c in enumerate(chunks)}}


H, I, V = 8, 12, 10
emb = f32(V, H)
q = f32(H, H).astype(np.float16)
up = bf16(H, I)
norm = bf16(H)
lm = f32(H, V)
conv = f32(3, 3, 2, 4)       # HWIO
ln_scale, ln_bias = f32(H), f32(H)
big = f32(5, 7)              # stored chunked (as flax does above 1 GiB)
params = {
    "model": {
        "embed_tokens": {"embedding": emb},
        "layers": {"0": {
            "self_attn": {"q_proj": {"kernel": q}},
            "mlp": {"up_proj": {"kernel": up}},
            "input_layernorm": {"weight": norm},
        }},
        "norm": {"weight": bf16(H)},
        "patch": {"kernel": conv},
        "ln": {"scale": ln_scale, "bias": ln_bias},
        "big": {"bias": chunked(big, 8)},
    },
    "lm_head": {"kernel": lm},
}
with open("reference.msgpack", "wb") as f:
    f.write(msgpack.packb(params, default=ext_pack, strict_types=True))


def entry(arr, dtype):
    if isinstance(arr, BF16):
        arr = arr.bits
    arr = np.ascontiguousarray(arr)
    return {"dtype": dtype, "shape": list(arr.shape), "hex": arr.tobytes().hex()}


def T(a):
    return BF16(np.ascontiguousarray(a.bits.T)) if isinstance(a, BF16) else a.T


expected = {
    "model.embed_tokens.weight": entry(emb, "F32"),
    "model.layers.0.self_attn.q_proj.weight": entry(q.T, "F16"),
    "model.layers.0.mlp.up_proj.weight": entry(T(up), "BF16"),
    "model.layers.0.input_layernorm.weight": entry(norm, "BF16"),
    "model.norm.weight": entry(params["model"]["norm"]["weight"], "BF16"),
    "model.patch.weight": entry(np.transpose(conv, (3, 2, 0, 1)), "F32"),
    "model.ln.weight": entry(ln_scale, "F32"),
    "model.ln.bias": entry(ln_bias, "F32"),
    "model.big.bias": entry(big, "F32"),
    "lm_head.weight": entry(lm.T, "F32"),
}
with open("reference.json", "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print("ok")
