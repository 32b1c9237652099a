#!/usr/bin/python3
"""A small random LLaMA in two file formats, and its reference logits.

Run from anywhere with Debian's python (torch 1.13 and numpy):

    /usr/bin/python3 tools/llama_random.py [GGUF_PY]

(GGUF_PY, optional: llama.cpp's gguf-py folder, for a check described below.)

It writes, under testdata/llama/:

  random_hf/config.json, random_hf/model.safetensors
      a Hugging Face LLaMA folder (LlamaForCausalLM's tensor names; q_proj
      and k_proj in Hugging Face's layout, whose RoPE rotates the two
      halves of each head, rotate_half)
  random.gguf
      the same model as GGUF v3 with llama.cpp's names and metadata keys,
      q and k rows permuted as llama.cpp's convert_hf_to_gguf.py permutes
      them (so GGUF's RoPE on adjacent pairs computes the same thing), and
      LLaMA 3's RoPE scaling as the rope_freqs.weight tensor that the
      converter writes for rope_type "llama3"
  random_logits.json
      the config, a fixed token sequence and the logits at every position,
      computed in float64 by tools/llama_reference.py's forward pass on the
      Hugging Face weights with rotate_half RoPE, stored as float32

The model: dim 32, 4 query heads and 2 key/value heads of size 8
(grouped-query attention), SwiGLU width 96, 3 layers, vocabulary 96, an
output projection separate from the embedding, rope_theta 500000 and LLaMA 3
scaling (factor 8, low_freq_factor 1, high_freq_factor 4,
original_max_position_embeddings 256; max_position_embeddings 1024). With a
head size of 8 and that base the four RoPE frequencies fall in all three of
LLaMA 3's bands (kept, blended, slowed by 8), which needs an original
context of 256 rather than 64. Every file stays under 200 KB.

The embedding is rounded to values that bfloat16 and float16 both hold
exactly: model.safetensors stores it as BF16 (as most Hugging Face LLaMAs
store everything) and random.gguf as F16, so both files hold the same
numbers. Every other tensor is F32 in both.

The GGUF writer and the safetensors writer are this script's own (struct and
numpy), following the formats' specifications and llama.cpp's
gguf_writer.py layout: tensor data aligned to 32 bytes (general.alignment
is not written, so readers must use the default), dimensions listed
innermost first. The script checks its output by reading both files back
with its own readers and running the forward pass on the GGUF weights with
adjacent-pair RoPE, which must give the same logits; given the path of
llama.cpp's gguf-py (GGUF_PY, e.g. a checkout's gguf-py folder) it also
reads random.gguf with llama.cpp's own GGUFReader.

Notes on llama.cpp's conventions, from convert_hf_to_gguf.py (LlamaModel):
permute(w, n_head) reshapes the rows to (n_head, 2, head_dim/2) and swaps
the last two axes, with n_head the number of key/value heads for k_proj;
rope_freqs.weight holds, for each of the head_dim/2 frequencies, the number
that divides it. The converter (at the commit read, c392e5094) takes
original_max_position_embeddings from the top level of config.json, where
LLaMA 3.1's configs do not have it, falling back to 8192; this script uses
the value inside rope_scaling, as transformers does, so that the GGUF and
the Hugging Face folder describe the same model.

Checked once by hand against llama.cpp itself (commit c392e5094, built from
source with a small driver that decodes the token sequence with all logits
on and an F32 KV cache): its logits for random.gguf equal
random_logits.json's to 3.3e-6 (max |logit| 8.1), and its logits for
../shared/data/gguf/stories260K.gguf equal stories260K_logits.json's to
1e-5.
"""

import hashlib
import json
import os
import struct
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ in tools/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_reference import dump_json, f32, forward, llama3_rope_factors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "testdata", "llama")

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 32,
    "intermediate_size": 96,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 96,
    "max_position_embeddings": 1024,
    "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 256,
        "rope_type": "llama3",
    },
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "attention_bias": False,
    "mlp_bias": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float32",
    "initializer_range": 0.02,
}

# ---------------------------------------------------------------------------
# The model


def bf16_f16_exact(a):
    """a rounded to bfloat16 (to nearest even), with the few values float16
    cannot hold exactly (tiny ones) set to zero: numbers both types hold."""
    bits = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    out = bits.astype(np.uint32).view(np.float32).copy()
    out[out.astype(np.float16).astype(np.float32) != out] = 0
    return out


def random_model(seed=4):
    """The weights under Hugging Face's names, float32 numpy arrays."""
    c = CONFIG
    rng = np.random.RandomState(seed)
    d, h, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    hd = d // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * hd

    def linear(out, inp):
        return (rng.standard_normal((out, inp)) / np.sqrt(inp)).astype(np.float32)

    def norm():
        return (1 + 0.2 * rng.standard_normal(d)).astype(np.float32)

    w = {"model.embed_tokens.weight": bf16_f16_exact(rng.standard_normal((v, d)))}
    for l in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % l
        w[p + "input_layernorm.weight"] = norm()
        w[p + "self_attn.q_proj.weight"] = linear(d, d)
        w[p + "self_attn.k_proj.weight"] = linear(kv, d)
        w[p + "self_attn.v_proj.weight"] = linear(kv, d)
        w[p + "self_attn.o_proj.weight"] = linear(d, d)
        w[p + "post_attention_layernorm.weight"] = norm()
        w[p + "mlp.gate_proj.weight"] = linear(h, d)
        w[p + "mlp.up_proj.weight"] = linear(h, d)
        w[p + "mlp.down_proj.weight"] = linear(d, h)
    w["model.norm.weight"] = norm()
    w["lm_head.weight"] = 2 * linear(v, d)
    return w


# Hugging Face name (after "model.layers.N.") -> GGUF name (after "blk.N.").
LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
TOP_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def gguf_name(hf):
    if hf in TOP_NAMES:
        return TOP_NAMES[hf]
    _, _, l, rest = hf.split(".", 3)
    return "blk.%s.%s" % (l, LAYER_NAMES[rest])


def permute(w, n_head):
    """llama.cpp's LlamaModel.permute: the rows of each head reordered from
    (half, i) to (i, half), so that rotate_half's pairs (i, i+d/2) become
    adjacent pairs (2i, 2i+1)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def to_reference(tensors, names):
    """Weights for llama_reference.forward: GGUF names without ".weight",
    float64 torch tensors."""
    return {names(k)[: -len(".weight")]: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in tensors.items()}


def reference_config():
    c = CONFIG
    return dict(dim=c["hidden_size"], n_heads=c["num_attention_heads"], n_kv_heads=c["num_key_value_heads"],
                n_layers=c["num_hidden_layers"], eps=c["rms_norm_eps"], theta=c["rope_theta"],
                rope_scaling=c["rope_scaling"])


# ---------------------------------------------------------------------------
# safetensors


def bf16_bytes(a):
    return (a.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()


def write_safetensors(path, tensors, bf16=()):
    """The safetensors format as its reference writer lays it out: the
    header's tensors sorted by name, data by dtype size (largest first)
    then name, the header padded with spaces to 8 bytes."""
    items = []
    for name, a in tensors.items():
        if name in bf16:
            items.append((name, "BF16", 2, list(a.shape), bf16_bytes(a)))
        else:
            items.append((name, "F32", 4, list(a.shape), a.astype("<f4").tobytes()))
    items.sort(key=lambda it: (-it[2], it[0]))
    header, off = {"__metadata__": {"format": "pt"}}, 0
    entries = {}
    for name, dt, _, shape, data in items:
        entries[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    for k in sorted(entries):
        header[k] = entries[k]
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for it in items:
            f.write(it[4])


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack_from("<Q", raw)[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        chunk = data[b:end]
        if e["dtype"] == "F32":
            a = np.frombuffer(chunk, dtype="<f4")
        elif e["dtype"] == "BF16":
            a = (np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(e["dtype"])
        out[name] = a.reshape(e["shape"])
    return out


# ---------------------------------------------------------------------------
# GGUF

GGUF_MAGIC = 0x46554747  # "GGUF" little-endian
ALIGN = 32  # GGUF's default general.alignment
GGML_F32, GGML_F16 = 0, 1
# GGUF metadata value types.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
SCALAR = {UINT8: "B", INT8: "b", UINT16: "H", INT16: "h", UINT32: "I", INT32: "i", FLOAT32: "f",
          BOOL: "?", UINT64: "Q", INT64: "q", FLOAT64: "d"}


def gguf_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gguf_value(vtype, v):
    if vtype == STRING:
        return gguf_str(v)
    if vtype == ARRAY:
        etype, items = v
        return struct.pack("<IQ", etype, len(items)) + b"".join(gguf_value(etype, x) for x in items)
    return struct.pack("<" + SCALAR[vtype], v)


def write_gguf(path, kvs, tensors):
    """GGUF v3: header, key/values [(key, type, value)], tensor infos
    (dimensions innermost first), padding to ALIGN, then each tensor's
    bytes, each padded to ALIGN. tensors is [(name, ggml type, array)]."""
    out = bytearray(struct.pack("<IIQQ", GGUF_MAGIC, 3, len(tensors), len(kvs)))
    for key, vtype, v in kvs:
        out += gguf_str(key) + struct.pack("<I", vtype) + gguf_value(vtype, v)
    blobs, off = [], 0
    for name, ttype, a in tensors:
        data = a.astype("<f4" if ttype == GGML_F32 else "<f2").tobytes()
        out += gguf_str(name) + struct.pack("<I", a.ndim)
        out += b"".join(struct.pack("<Q", n) for n in reversed(a.shape))
        out += struct.pack("<IQ", ttype, off)
        blobs.append(data)
        off += len(data) + (-len(data) % ALIGN)
    out += b"\0" * (-len(out) % ALIGN)
    for data in blobs:
        out += data + b"\0" * (-len(data) % ALIGN)
    with open(path, "wb") as f:
        f.write(out)


def read_gguf(path):
    """(metadata dict, {name: float32 array in numpy shape}) of a GGUF file
    of F32 and F16 tensors."""
    raw = open(path, "rb").read()
    at = 0

    def take(fmt):
        nonlocal at
        v = struct.unpack_from("<" + fmt, raw, at)
        at += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal at
        n = take("Q")
        s = raw[at:at + n].decode("utf-8")
        at += n
        return s

    def value(vtype):
        if vtype == STRING:
            return string()
        if vtype == ARRAY:
            etype, n = take("I"), take("Q")
            return [value(etype) for _ in range(n)]
        return take(SCALAR[vtype])

    magic, version, n_tensors, n_kv = take("I"), take("I"), take("Q"), take("Q")
    assert magic == GGUF_MAGIC and version == 3
    meta = {}
    for _ in range(n_kv):
        key = string()
        meta[key] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        ne = [take("Q") for _ in range(take("I"))]
        infos.append((name, ne[::-1], take("I"), take("Q")))
    align = meta.get("general.alignment", ALIGN)
    start = at + (-at % align)
    out = {}
    for name, shape, ttype, off in infos:
        dt = {GGML_F32: "<f4", GGML_F16: "<f2"}[ttype]
        n = int(np.prod(shape))
        out[name] = np.frombuffer(raw, dtype=dt, count=n, offset=start + off).astype(np.float32).reshape(shape)
    return meta, out


def vocabulary(n):
    """A tiny SentencePiece-style vocabulary of n tokens for the GGUF
    metadata (the model is random: no text means anything to it): <unk>,
    <s>, </s>, the 26 lower-case letters and some punctuation after the
    word-start mark, then merges of them, scored by rank."""
    pieces = ["<unk>", "<s>", "</s>", "\u2581"] + list("abcdefghijklmnopqrstuvwxyz.,!?'")
    merges = ["\u2581" + ch for ch in "abcdefghijklmnopqrstuvwxyz"] + \
             ["th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ti", "es", "or", "te", "of", "ed",
              "is", "it", "al", "ar", "st", "to", "nt", "ng", "se", "ha", "as", "ou", "io", "le", "ve", "co",
              "me", "de", "ll"]
    pieces = pieces + merges
    pieces = pieces[:n]
    assert len(pieces) == n and len(set(pieces)) == n
    types = [2, 3, 3] + [1] * (n - 3)
    scores = [0.0, 0.0, 0.0] + [-1000.0 - i for i in range(32)] + [-float(i) for i in range(n - 35)]
    return pieces, [float(np.float32(s)) for s in scores], types


def gguf_file(path, hf):
    c = CONFIG
    d, heads, kv_heads = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd = d // heads
    factors = llama3_rope_factors(hd, c["rope_theta"], c["rope_scaling"]).numpy().astype(np.float32)
    tensors = [("rope_freqs.weight", GGML_F32, factors)]
    for name, a in hf.items():
        g = gguf_name(name)
        if name.endswith("q_proj.weight"):
            a = permute(a, heads)
        elif name.endswith("k_proj.weight"):
            a = permute(a, kv_heads)
        tensors.append((g, GGML_F16 if g == "token_embd.weight" else GGML_F32, a))
    pieces, scores, types = vocabulary(c["vocab_size"])
    arch = "llama"
    kvs = [
        ("general.architecture", STRING, arch),
        ("general.name", STRING, "gograd random llama (tools/llama_random.py)"),
        ("general.file_type", UINT32, 0),
        (arch + ".vocab_size", UINT32, c["vocab_size"]),
        (arch + ".context_length", UINT32, c["max_position_embeddings"]),
        (arch + ".embedding_length", UINT32, d),
        (arch + ".block_count", UINT32, c["num_hidden_layers"]),
        (arch + ".feed_forward_length", UINT32, c["intermediate_size"]),
        (arch + ".rope.dimension_count", UINT32, hd),
        (arch + ".attention.head_count", UINT32, heads),
        (arch + ".attention.head_count_kv", UINT32, kv_heads),
        (arch + ".rope.freq_base", FLOAT32, c["rope_theta"]),
        (arch + ".attention.layer_norm_rms_epsilon", FLOAT32, c["rms_norm_eps"]),
        ("tokenizer.ggml.model", STRING, "llama"),
        ("tokenizer.ggml.pre", STRING, "default"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, pieces)),
        ("tokenizer.ggml.scores", ARRAY, (FLOAT32, scores)),
        ("tokenizer.ggml.token_type", ARRAY, (INT32, types)),
        ("tokenizer.ggml.bos_token_id", UINT32, c["bos_token_id"]),
        ("tokenizer.ggml.eos_token_id", UINT32, c["eos_token_id"]),
        ("tokenizer.ggml.unknown_token_id", UINT32, 0),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
        ("tokenizer.ggml.add_eos_token", BOOL, False),
    ]
    write_gguf(path, kvs, tensors)
    return factors


def check_with_gguf_py(gguf_py, path, want):
    """Reads path with llama.cpp's GGUFReader and compares its tensors (in
    numpy shape) with want."""
    import types
    # The package's __init__ imports modules that need sentencepiece and
    # yaml; the reader needs only numpy, so load it without the __init__.
    pkg = types.ModuleType("gguf")
    pkg.__path__ = [os.path.join(gguf_py, "gguf")]
    sys.modules["gguf"] = pkg
    from gguf.gguf_reader import GGUFReader  # llama.cpp's own reader

    r = GGUFReader(path)
    field = r.fields["general.architecture"]
    assert bytes(field.parts[field.data[0]]).decode() == "llama"
    n = 0
    for t in r.tensors:
        a = np.asarray(t.data).astype(np.float32).reshape([int(x) for x in reversed(t.shape)])
        assert np.array_equal(a, want[t.name]), t.name
        n += 1
    assert n == len(want), (n, len(want))
    print("llama.cpp's GGUFReader reads %d tensors equal to this script's" % n)


def main():
    c = CONFIG
    hf = random_model()
    hf_dir = os.path.join(OUT, "random_hf")
    os.makedirs(hf_dir, exist_ok=True)
    with open(os.path.join(hf_dir, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
        f.write("\n")
    st_path = os.path.join(hf_dir, "model.safetensors")
    write_safetensors(st_path, hf, bf16={"model.embed_tokens.weight"})
    gguf_path = os.path.join(OUT, "random.gguf")
    factors = gguf_file(gguf_path, hf)

    rng = np.random.RandomState(7)
    tokens = [1] + rng.randint(3, c["vocab_size"], size=23).tolist()
    cfg = reference_config()
    logits = forward(to_reference(hf, gguf_name), cfg, tokens, "halves")

    # Check the files: safetensors back to the same weights, and the GGUF
    # weights (permuted) with adjacent-pair RoPE to the same logits.
    back = read_safetensors(st_path)
    assert set(back) == set(hf) and all(np.array_equal(back[k], hf[k]) for k in hf)
    meta, gw = read_gguf(gguf_path)
    assert np.array_equal(gw["rope_freqs.weight"], factors)
    want = {"rope_freqs.weight": factors}
    for k, v in hf.items():
        want[gguf_name(k)] = permute(v, c["num_attention_heads"]) if "q_proj" in k else \
            permute(v, c["num_key_value_heads"]) if "k_proj" in k else v
    assert all(np.array_equal(gw[k], want[k]) for k in want) and set(gw) == set(want)
    # GGUF's RoPE: adjacent pairs, base frequencies divided by rope_freqs.
    gcfg = dict(cfg, theta=float(meta["llama.rope.freq_base"]), eps=float(meta["llama.attention.layer_norm_rms_epsilon"]),
                rope_scaling=None, rope_factors=torch.from_numpy(gw["rope_freqs.weight"].astype(np.float64)))
    glogits = forward({k[: -len(".weight")]: torch.from_numpy(v.astype(np.float64)) for k, v in gw.items()
                       if k != "rope_freqs.weight"}, gcfg, tokens, "pairs")
    diff = float((glogits - logits).abs().max())
    # float32 metadata (eps, theta) and float32 rope factors cost ~1e-7.
    assert diff < 1e-5, diff
    unscaled = forward(to_reference(hf, gguf_name), dict(cfg, rope_scaling=None), tokens, "halves")
    print("GGUF weights with adjacent-pair RoPE and rope_freqs: max |logit difference| %.3g "
          "(RoPE scaling changes logits by up to %.3g; halves vs pairs on the same weights by %.3g)"
          % (diff, float((unscaled - logits).abs().max()),
             float((forward(to_reference(hf, gguf_name), cfg, tokens, "pairs") - logits).abs().max())))
    if len(sys.argv) > 1:
        check_with_gguf_py(sys.argv[1], gguf_path, want)

    doc = {
        "about": "Reference logits of the random LLaMA in random_hf/ and random.gguf (tools/llama_random.py): "
                 "float64 forward pass on the Hugging Face weights with rotate_half RoPE, LLaMA 3 scaling from "
                 "config.json, stored as float32. logits[i] are the logits after tokens[0..i]. Both files must "
                 "reproduce them; random.gguf's q/k rows are permuted for adjacent-pair RoPE and its scaling is "
                 "rope_freqs.weight (the divisor of each frequency, listed here as rope_freqs).",
        "config": c,
        "head_dim": c["hidden_size"] // c["num_attention_heads"],
        "rope_freqs": f32(factors),
        "files": {
            "random_hf/model.safetensors": hashlib.sha256(open(st_path, "rb").read()).hexdigest(),
            "random.gguf": hashlib.sha256(open(gguf_path, "rb").read()).hexdigest(),
        },
        "tokens": tokens,
        "logits": [f32(row) for row in logits],
        "gguf_check_max_abs_diff": diff,
    }
    out = os.path.join(OUT, "random_logits.json")
    dump_json(out, doc)
    for p in [st_path, os.path.join(hf_dir, "config.json"), gguf_path, out]:
        print("wrote %s (%d bytes)" % (os.path.relpath(p, ROOT), os.path.getsize(p)))


if __name__ == "__main__":
    main()
