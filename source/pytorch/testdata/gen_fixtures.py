#!/usr/bin/python3
"""Generates the small torch.save fixtures of source/pytorch's tests.

Run once with Debian's python3-torch (1.13.1):  /usr/bin/python3 gen_fixtures.py
Writes *.pt plus expected.json, which gives for every tensor of every file its
dtype, shape and C-contiguous little-endian bytes (hex), as torch itself
materializes them.  Tests read only the outputs; they never run Python.
"""
import collections
import json

import torch

torch.manual_seed(1234)


def contiguous_hex(t):
    t = t.detach().contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.view(torch.int16)
    return t.numpy().tobytes().hex()


DTYPE = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
    torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}

expected = {}


def save(name, sd, **kw):
    torch.save(sd, name, **kw)
    expected[name] = {
        k: {"dtype": DTYPE[v.dtype], "shape": list(v.shape), "hex": contiguous_hex(v)}
        for k, v in sd.items()
    }


base = torch.arange(24, dtype=torch.float32) * 0.5 - 3
save("dtypes.pt", {
    "f32": torch.randn(3, 4),
    "f16": torch.randn(2, 5).half(),
    "bf16": torch.randn(4, 3).bfloat16(),
    "f64": torch.randn(3).double(),
    "i64": torch.arange(-3, 3, dtype=torch.int64),
    "i32": torch.tensor([[1, -2], [3, 2**31 - 1]], dtype=torch.int32),
    "i16": torch.tensor([-7, 300], dtype=torch.int16),
    "i8": torch.tensor([-128, 127, 0], dtype=torch.int8),
    "u8": torch.tensor([0, 255, 7], dtype=torch.uint8),
    "bool": torch.tensor([True, False, True]),
    "scalar": torch.tensor(2.5),
    "empty": torch.zeros(0, 4),
})

# Views: transposed, offset, strided slices, all sharing one storage.
m = base.view(4, 6)
save("views.pt", {
    "base": base,
    "matrix": m,
    "transposed": m.t(),
    "offset": base[5:11],
    "rows": m[1:3],
    "cols": m[:, 2:5],
    "every_other": base[1::2],
    "permuted": base.view(2, 3, 4).permute(2, 0, 1),
    "bf16_t": torch.randn(3, 5).bfloat16().t(),
})

# Tied weights (like lm_head / embed_tokens) and nn.Parameter.
emb = torch.randn(6, 4).bfloat16()
save("tied.pt", collections.OrderedDict([
    ("model.embed_tokens.weight", emb),
    ("lm_head.weight", emb),
    ("param", torch.nn.Parameter(torch.randn(2, 3))),
]))

# A module's state_dict: an OrderedDict with a _metadata attribute (BUILD).
lin = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
sd = lin.state_dict()
torch.save(sd, "module.pt")
expected["module.pt"] = {
    k: {"dtype": DTYPE[v.dtype], "shape": list(v.shape), "hex": contiguous_hex(v)}
    for k, v in sd.items()
}

# Legacy (pre-1.6) non-zip format.
save("legacy.pt", {"w": torch.randn(2, 3), "t": m.t()[1:3], "h": torch.randn(3).half()},
     _use_new_zipfile_serialization=False)

with open("expected.json", "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print("ok", torch.__version__)
