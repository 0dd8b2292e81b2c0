#!/usr/bin/env python3
"""Convert a SmolVLM Hugging Face folder (safetensors) into the two GGUF files llama.cpp's
llama-mtmd-cli runs: the text decoder (architecture llama) and the vision projector ("mmproj",
clip projector type idefics3).

It exists so that cellm and llama.cpp can be timed on the same weights where neither torch nor
llama.cpp's convert_hf_to_gguf.py is available: safetensors are read with numpy (JSON header +
raw little-endian bytes), and the GGUF files are written with the gguf-py package of the llama.cpp
checkout given by --llama (it needs only numpy). Tensor names come from gguf-py's own name maps;
the metadata keys and tensor types follow what that llama.cpp version's converter writes for
Idefics3ForConditionalGeneration / SmolVLMForConditionalGeneration, so the files load the same
way a converted SmolVLM does. Typical use is a random-weight folder:

    cellm make-random-model --model smolvlm-256m --output DIR --tokenizer-dir SMOLVLM_TOKENIZER_DIR
    /usr/bin/python3 scripts/make-smolvlm-gguf.py --llama LLAMA_CPP_DIR DIR --outdir OUT

which writes OUT/smolvlm-text-f16.gguf and OUT/mmproj-smolvlm-f16.gguf (--dtype f32|f16|bf16).
--longest-edge PX overrides the preprocessor's size.longest_edge in the mmproj (llama.cpp's
Idefics3 splitting upscales the image so its longest side is PX, then cuts 512-pixel slices).
The folder needs config.json, *.safetensors, tokenizer.json and preprocessor_config.json.
"""
import argparse
import json
import os
import sys

import numpy as np

# safetensors dtype names -> numpy types (BF16 is widened to float32 by hand).
ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}


class Safetensors:
    """The tensors of one or more .safetensors files, read lazily through a memory map."""

    def __init__(self, paths):
        self.index = {}
        for path in paths:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                head = f.read(8)
                if len(head) != 8:
                    raise ValueError("%s: too short for a safetensors header" % path)
                n = int.from_bytes(head, "little")
                if n <= 0 or 8 + n > size:
                    raise ValueError("%s: header length %d does not fit the file (%d bytes)" % (path, n, size))
                header = json.loads(f.read(n))
            data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                dt = info.get("dtype")
                if dt not in ST_DTYPES:
                    raise ValueError("%s: tensor %s has dtype %s (want F32, F16 or BF16)" % (path, name, dt))
                begin, end = info["data_offsets"]
                count = int(np.prod(info["shape"], dtype=np.int64))
                if not (0 <= begin <= end <= len(data)) or end - begin != count * np.dtype(ST_DTYPES[dt]).itemsize:
                    raise ValueError("%s: tensor %s: offsets %d..%d do not match shape %s %s or the file"
                                     % (path, name, begin, end, info["shape"], dt))
                if name in self.index:
                    raise ValueError("%s: tensor %s is also in another file" % (path, name))
                self.index[name] = (data, begin, end, dt, tuple(info["shape"]))

    def names(self):
        return list(self.index)

    def f32(self, name):
        """Tensor name as a float32 array of its shape."""
        data, begin, end, dt, shape = self.index[name]
        raw = np.frombuffer(data[begin:end], dtype=ST_DTYPES[dt])
        if dt == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        return raw.astype(np.float32).reshape(shape)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("hf_dir", help="SmolVLM folder: config.json, *.safetensors, tokenizer.json, preprocessor_config.json")
    ap.add_argument("--llama", required=True, help="llama.cpp checkout (its gguf-py/ is used)")
    ap.add_argument("--outdir", required=True, help="where to write the two GGUF files")
    ap.add_argument("--dtype", default="f16", choices=["f32", "f16", "bf16"], help="type of the 2-D weights")
    ap.add_argument("--longest-edge", type=int, default=0,
                    help="preprocessor longest edge written to the mmproj (default: the folder's size.longest_edge)")
    ap.add_argument("--only", choices=["text", "mmproj"], help="write only one of the two files")
    return ap.parse_args()


def load_json(d, name, required=True):
    path = os.path.join(d, name)
    if not os.path.exists(path):
        if required:
            sys.exit("%s: missing (needed for the GGUF metadata)" % path)
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def rope_interleave(w, heads):
    """Reorder the rows of a Q or K projection from Hugging Face's rotate-half RoPE layout (each
    head's dimension i paired with i + d/2) to llama.cpp's (dimension 2i paired with 2i + 1)."""
    rows = w.shape[0]
    d = rows // heads
    return w.reshape(heads, 2, d // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


class Writer:
    """Adds tensors to a GGUFWriter with the converter's type rules."""

    def __init__(self, gguf, w, dtype):
        self.gguf, self.w, self.dtype = gguf, w, dtype

    def add(self, name, x, keep_f32=False):
        qt = self.gguf.GGMLQuantizationType
        # 1-D tensors (norms, biases) and norm weights stay float32, as llama.cpp's converter does.
        if keep_f32 or x.ndim <= 1 or name.endswith("_norm.weight") or self.dtype == "f32":
            self.w.add_tensor(name, np.ascontiguousarray(x, dtype=np.float32))
        elif self.dtype == "f16":
            self.w.add_tensor(name, x.astype(np.float16))
        else:
            self.w.add_tensor(name, self.gguf.quants.quantize(x, qt.BF16), raw_dtype=qt.BF16)

    def close(self):
        self.w.write_header_to_file()
        self.w.write_kv_data_to_file()
        self.w.write_tensors_to_file()
        self.w.close()


def file_type(gguf, dtype):
    return {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
            "bf16": gguf.LlamaFileType.MOSTLY_BF16}[dtype]


def vocabulary(gguf, hf_dir, vocab_size):
    """Token strings, types and merges from tokenizer.json, padded to vocab_size."""
    tj = load_json(hf_dir, "tokenizer.json")
    model = tj.get("model", {})
    if model.get("type") != "BPE":
        sys.exit("%s/tokenizer.json: model type %r, want BPE" % (hf_dir, model.get("type")))
    toks = [None] * vocab_size
    types = [gguf.TokenType.NORMAL] * vocab_size
    for t, i in model["vocab"].items():
        if i < vocab_size:
            toks[i] = t
    for a in tj.get("added_tokens", []):
        if a["id"] < vocab_size:
            toks[a["id"]] = a["content"]
            types[a["id"]] = gguf.TokenType.CONTROL if a.get("special") else gguf.TokenType.USER_DEFINED
    for i, t in enumerate(toks):
        if t is None:
            toks[i] = "[PAD%d]" % i
            types[i] = gguf.TokenType.UNUSED
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    ids = {t: i for i, t in enumerate(toks)}
    return toks, types, merges, ids


def special_token(cfg, key):
    v = cfg.get(key)
    if isinstance(v, dict):
        v = v.get("content")
    return v


def write_text(gguf, st, a, cfg, path):
    t = cfg.get("text_config", cfg)
    hidden, layers = t["hidden_size"], t["num_hidden_layers"]
    heads = t.get("num_attention_heads", 32)  # SmolVLM2's text config may omit it (transformers' default)
    kv = t.get("num_key_value_heads", heads)
    head_dim = t.get("head_dim", hidden // heads)
    vocab = t.get("vocab_size", cfg.get("vocab_size"))
    w = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(os.path.basename(os.path.normpath(a.hf_dir)) + "-text")
    w.add_context_length(t.get("max_position_embeddings", 8192))
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(t["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float(t.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(t.get("rms_norm_eps", 1e-5)))
    w.add_vocab_size(vocab)
    w.add_file_type(file_type(gguf, a.dtype))

    toks, types, merges, ids = vocabulary(gguf, a.hf_dir, vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")  # SmolLM2's pre-tokenizer: single digits, then GPT-2 byte level
    w.add_token_list(toks)
    w.add_token_types(types)
    w.add_token_merges(merges)
    tc = load_json(a.hf_dir, "tokenizer_config.json", required=False)
    stm = load_json(a.hf_dir, "special_tokens_map.json", required=False)
    for key, add in (("bos_token", w.add_bos_token_id), ("eos_token", w.add_eos_token_id),
                     ("unk_token", w.add_unk_token_id), ("pad_token", w.add_pad_token_id)):
        tok = special_token(tc, key) or special_token(stm, key)
        if tok in ids:
            add(ids[tok])
    # SmolVLM's template begins with <|im_start|> itself; it is not added as a BOS.
    w.add_add_bos_token(bool(tc.get("add_bos_token", False)))
    template = tc.get("chat_template") or load_json(a.hf_dir, "chat_template.json", required=False).get("chat_template")
    if template:
        w.add_chat_template(template)

    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, layers)
    out = Writer(gguf, w, a.dtype)
    n = 0
    for name in st.names():
        if "vision_model." in name or "connector." in name:
            continue
        hf = name.replace("text_model.", "")
        new = tmap.get_name(hf, try_suffixes=(".weight", ".bias"))
        if new is None:
            sys.exit("text tensor %s: no llama.cpp name for it" % name)
        x = st.f32(name)
        if hf.endswith("self_attn.q_proj.weight"):
            x = rope_interleave(x, heads)
        elif hf.endswith("self_attn.k_proj.weight"):
            x = rope_interleave(x, kv)
        out.add(new, x)
        n += 1
    out.close()
    return n


def write_mmproj(gguf, st, a, cfg, path):
    v = dict(cfg["vision_config"])
    if v.get("model_type") == "smolvlm_vision":
        # SmolVLM2's vision config may omit these; transformers' defaults.
        v.setdefault("hidden_size", 1152)
        v.setdefault("num_attention_heads", 16)
        v.setdefault("intermediate_size", 3072)
    text_hidden = cfg.get("text_config", cfg)["hidden_size"]
    pre = load_json(a.hf_dir, "preprocessor_config.json")
    pre.update(load_json(a.hf_dir, "processor_config.json", required=False).get("image_processor", {}))
    longest = a.longest_edge or pre.get("size", {}).get("longest_edge", v["image_size"])
    layers = v["num_hidden_layers"]

    w = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.MMPROJ])
    w.add_type(gguf.GGUFType.MMPROJ)
    w.add_name(os.path.basename(os.path.normpath(a.hf_dir)) + "-mmproj")
    w.add_file_type(file_type(gguf, a.dtype))
    w.add_clip_has_vision_encoder(True)
    w.add_clip_projector_type(gguf.VisionProjectorType.IDEFICS3)
    w.add_vision_projection_dim(text_hidden)
    w.add_vision_image_size(v["image_size"])
    w.add_vision_patch_size(v["patch_size"])
    w.add_vision_embedding_length(v["hidden_size"])
    w.add_vision_feed_forward_length(v["intermediate_size"])
    w.add_vision_block_count(layers)
    w.add_vision_head_count(v["num_attention_heads"])
    w.add_vision_attention_layernorm_eps(float(v.get("layer_norm_eps", 1e-5)))
    w.add_vision_image_mean(pre["image_mean"])
    w.add_vision_image_std(pre["image_std"])
    w.add_vision_projector_scale_factor(cfg.get("scale_factor", 2))
    w.add_vision_use_gelu(True)
    w.add_vision_preproc_image_size(longest)

    vmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MMPROJ, layers)
    out = Writer(gguf, w, a.dtype)
    n = 0
    for name in st.names():
        if "vision_model." not in name and "connector." not in name:
            continue
        new = vmap.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            sys.exit("vision tensor %s: no llama.cpp name for it" % name)
        # The converter keeps SmolVLM's patch and position embeddings in float32.
        out.add(new, st.f32(name), keep_f32=".embeddings." in name)
        n += 1
    out.close()
    return n


def main():
    a = parse_args()
    sys.path.insert(0, os.path.join(a.llama, "gguf-py"))
    import gguf

    cfg = load_json(a.hf_dir, "config.json")
    if "vision_config" not in cfg or "text_config" not in cfg:
        sys.exit("%s/config.json: not a SmolVLM/Idefics3 config (no vision_config/text_config)" % a.hf_dir)
    files = sorted(os.path.join(a.hf_dir, f) for f in os.listdir(a.hf_dir) if f.endswith(".safetensors"))
    if not files:
        sys.exit("%s: no .safetensors files" % a.hf_dir)
    st = Safetensors(files)
    os.makedirs(a.outdir, exist_ok=True)
    if a.only in (None, "text"):
        path = os.path.join(a.outdir, "smolvlm-text-%s.gguf" % a.dtype)
        n = write_text(gguf, st, a, cfg, path + ".tmp")
        os.replace(path + ".tmp", path)
        print("%s (%d tensors)" % (path, n))
    if a.only in (None, "mmproj"):
        suffix = "-le%d" % a.longest_edge if a.longest_edge else ""
        path = os.path.join(a.outdir, "mmproj-smolvlm-%s%s.gguf" % (a.dtype, suffix))
        n = write_mmproj(gguf, st, a, cfg, path + ".tmp")
        os.replace(path + ".tmp", path)
        print("%s (%d tensors)" % (path, n))


if __name__ == "__main__":
    main()
