#!/usr/bin/env python3
"""Writes a JSON manifest of a .safetensors file: for every tensor its dtype,
shape and the sha256 of its raw little-endian bytes.  Standard library only.

    python3 safetensors_manifest.py model.safetensors > manifest.json

The tests compare what the reader under test yields against such a manifest,
so the (large) safetensors file itself need not be committed.
"""
import hashlib
import json
import struct
import sys

with open(sys.argv[1], "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    base = 8 + n
    out = {}
    for name, info in sorted(header.items()):
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        f.seek(base + begin)
        data = f.read(end - begin)
        out[name] = {"dtype": info["dtype"], "shape": info["shape"],
                     "sha256": hashlib.sha256(data).hexdigest()}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
print()
