#!/usr/bin/python3
"""A PyTorch reference of the LLaMA forward pass, and the stories260K fixture.

Run from anywhere with Debian's python (torch 1.13 and numpy:
`apt-get install python3-torch python3-numpy`):

    /usr/bin/python3 tools/llama_reference.py [DATA]

DATA is the folder of stories260K.bin and tok512.bin (default
../shared/data/llama2c beside the module root). The script reads both files
itself (numpy, no llama2.c code), encodes prompts with llama2.c's tokenizer
algorithm (run.c's encode, re-written here), runs the forward pass below in
float64, and writes testdata/llama/stories260K_logits.json:

  config      the checkpoint's header
  sequences   for each token sequence: the text it encodes, the token ids
              (BOS first), the positions stored and the logits at those
              positions (float32 values, from float64 math), one list of
              vocab_size numbers per stored position
  greedy      this reference's greedy decoding of each prompt of
              testdata/llama/run_c_greedy.json, and how many of run.c's
              sampled ids it reproduces

The forward pass is written from the LLaMA paper's definitions, not copied
from llama2.c or transformers: RMSNorm, rotary embeddings (RoPE) with any
base and LLaMA 3's frequency scaling, grouped-query attention with a causal
mask, a SwiGLU feed-forward, and a tied or separate output projection. RoPE
comes in the two conventions of the files: "pairs" rotates adjacent pairs
(x[2i], x[2i+1]) as llama2.c and GGUF do, "halves" rotates (x[i],
x[i+head_dim/2]) as Hugging Face's rotate_half does; the same frequencies
serve both. tools/llama_random.py imports this module.
"""

import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------
# The forward pass


def rope_frequencies(head_dim, theta, scaling=None):
    """The rotation speeds of the head_dim/2 pairs, float64: theta^(-2i/d),
    divided as LLaMA 3's "llama3" rope_scaling says (a dict with factor,
    low_freq_factor, high_freq_factor, original_max_position_embeddings):
    wavelengths shorter than original/high_freq_factor stay, longer than
    original/low_freq_factor are slowed by factor, and those between are
    blended linearly in original/wavelength."""
    i = torch.arange(0, head_dim, 2, dtype=torch.float64)
    freq = 1.0 / theta ** (i / head_dim)
    if scaling is None:
        return freq
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind != "llama3":
        raise ValueError("rope_scaling type %r not implemented" % kind)
    factor = scaling["factor"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    orig = scaling["original_max_position_embeddings"]
    out = []
    for f in freq.tolist():
        wavelen = 2 * math.pi / f
        if wavelen < orig / high:
            out.append(f)
        elif wavelen > orig / low:
            out.append(f / factor)
        else:
            smooth = (orig / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return torch.tensor(out, dtype=torch.float64)


def llama3_rope_factors(head_dim, theta, scaling):
    """What divides each base frequency under LLaMA 3 scaling: the values of
    llama.cpp's rope_freqs.weight tensor."""
    base = rope_frequencies(head_dim, theta)
    return base / rope_frequencies(head_dim, theta, scaling)


def rope(x, positions, freq, style):
    """Rotates x [T, heads, head_dim] by positions [T] * freq [head_dim/2]."""
    ang = positions.to(torch.float64)[:, None] * freq[None, :]  # [T, d/2]
    cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    d = x.shape[-1]
    if style == "pairs":
        a, b = x[..., 0::2], x[..., 1::2]
        out = torch.empty_like(x)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out
    if style == "halves":
        a, b = x[..., : d // 2], x[..., d // 2:]
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)
    raise ValueError(style)


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps) * w


def forward(w, cfg, tokens, style):
    """The logits [T, vocab] of the token ids, float64.

    w maps GGUF-style names to float64 tensors in PyTorch layout ([out, in]):
    token_embd, output_norm, output (absent when tied) and blk.{l}.attn_norm,
    attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up,
    ffn_down. cfg has dim, n_heads, n_kv_heads, n_layers, eps, theta and
    optionally rope_scaling. style is the RoPE convention of attn_q and
    attn_k ("pairs" or "halves")."""
    n_heads, n_kv = cfg["n_heads"], cfg["n_kv_heads"]
    hd = cfg["dim"] // n_heads
    rep = n_heads // n_kv
    if cfg.get("rope_factors") is not None:
        freq = rope_frequencies(hd, cfg["theta"]) / cfg["rope_factors"]
    else:
        freq = rope_frequencies(hd, cfg["theta"], cfg.get("rope_scaling"))
    T = len(tokens)
    pos = torch.arange(T)
    x = w["token_embd"][torch.tensor(tokens)]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(cfg["n_layers"]):
        p = "blk.%d." % l
        h = rms_norm(x, w[p + "attn_norm"], cfg["eps"])
        q = (h @ w[p + "attn_q"].T).view(T, n_heads, hd)
        k = (h @ w[p + "attn_k"].T).view(T, n_kv, hd)
        v = (h @ w[p + "attn_v"].T).view(T, n_kv, hd)
        q, k = rope(q, pos, freq, style), rope(k, pos, freq, style)
        # Query head j reads key/value head j // rep.
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd)
        scores = scores.masked_fill(~causal, float("-inf"))
        att = torch.softmax(scores, dim=-1)
        o = torch.einsum("hts,shd->thd", att, v).reshape(T, n_heads * hd)
        x = x + o @ w[p + "attn_output"].T
        h = rms_norm(x, w[p + "ffn_norm"], cfg["eps"])
        gate = h @ w[p + "ffn_gate"].T
        x = x + (gate * torch.sigmoid(gate) * (h @ w[p + "ffn_up"].T)) @ w[p + "ffn_down"].T
    x = rms_norm(x, w["output_norm"], cfg["eps"])
    return x @ w.get("output", w["token_embd"]).T


def greedy(w, cfg, prompt, steps, style):
    """run.c's generation loop with temperature 0: the ids sampled at
    positions len(prompt)-1 .. steps-1 (stopping after a BOS, id 1), each
    from a full forward pass over the sequence so far, and the margin of
    each choice (its logit minus the runner-up's)."""
    seq, out, margins = list(prompt), [], []
    for pos in range(len(prompt) - 1, steps):
        logits = forward(w, cfg, seq, style)[-1]
        top = torch.topk(logits, 2)
        nxt = int(top.indices[0])
        out.append(nxt)
        margins.append(float(top.values[0] - top.values[1]))
        if nxt == 1:
            break
        seq.append(nxt)
    return out, margins


def f32(values):
    """float32 values as JSON numbers: the shortest text that reads back as
    the same float32."""
    return [float(repr(np.float32(v))) for v in np.asarray(values, dtype=np.float64).ravel()]


def dump_json(path, doc):
    """Writes doc with every list of numbers on one line."""
    def enc(o, ind):
        pad = " " * ind
        if isinstance(o, dict):
            items = [pad + " " + json.dumps(k) + ": " + enc(v, ind + 1) for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, list) and o and all(isinstance(v, (dict, list)) for v in o):
            return "[\n" + ",\n".join(pad + " " + enc(v, ind + 1) for v in o) + "\n" + pad + "]"
        if isinstance(o, list):
            return "[" + ", ".join(repr(v) if isinstance(v, float) else json.dumps(v) for v in o) + "]"
        return json.dumps(o, ensure_ascii=False)
    with open(path, "w") as f:
        f.write(enc(doc, 0) + "\n")


# ---------------------------------------------------------------------------
# llama2.c files


def read_llama2c(path):
    """The config and float64 weights (GGUF names) of a version 0 llama2.c
    checkpoint, read with numpy."""
    raw = open(path, "rb").read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // n_heads
    kv_dim = n_kv * hd
    data = np.frombuffer(raw, dtype="<f4", offset=28)
    at = 0

    def take(*shape):
        nonlocal at
        n = int(np.prod(shape))
        a = data[at:at + n].reshape(shape)
        at += n
        return torch.from_numpy(a.astype(np.float64))

    w = {"token_embd": take(vocab, dim)}
    for name, shape in [("attn_norm", (dim,)), ("attn_q", (dim, dim)), ("attn_k", (kv_dim, dim)),
                        ("attn_v", (kv_dim, dim)), ("attn_output", (dim, dim)), ("ffn_norm", (dim,)),
                        ("ffn_gate", (hidden, dim)), ("ffn_down", (dim, hidden)), ("ffn_up", (hidden, dim))]:
        for l in range(n_layers):
            w["blk.%d.%s" % (l, name)] = take(*shape)
    w["output_norm"] = take(dim)
    take(seq_len, hd // 2)  # freq_cis_real, unused
    take(seq_len, hd // 2)  # freq_cis_imag, unused
    if not shared:
        w["output"] = take(vocab, dim)
    assert at == len(data), "%s: %d floats left" % (path, len(data) - at)
    cfg = dict(dim=dim, hidden_dim=hidden, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv,
               vocab_size=vocab, seq_len=seq_len, shared_classifier=shared, eps=1e-5, theta=10000.0)
    return cfg, w


def read_tokenizer(path, vocab_size):
    """llama2.c's tokenizer.bin: int32 max_token_length, then per token a
    float32 score, an int32 length and the bytes."""
    raw = open(path, "rb").read()
    at = 4
    pieces, scores = [], []
    for _ in range(vocab_size):
        score, n = struct.unpack_from("<fi", raw, at)
        at += 8
        pieces.append(raw[at:at + n])
        scores.append(score)
        at += n
    return pieces, scores


def encode(pieces, scores, text, bos=True):
    """run.c's encode: BOS, a dummy-prefix space token (for non-empty text),
    one token per UTF-8 character (its bytes + 3 when the character is not
    a piece), then repeatedly merge the adjacent pair whose concatenation is
    the piece of highest score (the first such pair on ties)."""
    lookup = {}
    for i, p in enumerate(pieces):
        lookup.setdefault(p, i)
    ids = [1] if bos else []
    data = text.encode("utf-8")
    if data:
        ids.append(lookup[b" "])
    i = 0
    while i < len(data):
        j = i + 1
        while j < len(data) and data[j] & 0xC0 == 0x80 and j - i < 4:
            j += 1
        ch = data[i:j]
        if ch in lookup:
            ids.append(lookup[ch])
        else:
            ids.extend(b + 3 for b in ch)
        i = j
    while True:
        best, best_i, best_id = -1e10, -1, -1
        for k in range(len(ids) - 1):
            m = lookup.get(pieces[ids[k]] + pieces[ids[k + 1]])
            if m is not None and scores[m] > best:
                best, best_i, best_id = scores[m], k, m
        if best_i < 0:
            return ids
        ids[best_i:best_i + 2] = [best_id]


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data", "llama2c")
    model, tok = os.path.join(data, "stories260K.bin"), os.path.join(data, "tok512.bin")
    cfg, w = read_llama2c(model)
    pieces, scores = read_tokenizer(tok, cfg["vocab_size"])
    fcfg = dict(cfg)

    short_text = "Once upon a time"
    long_text = ("Once upon a time, there was a little girl named Lily. She loved to play outside "
                 "in the sunshine with her friends.")
    short = encode(pieces, scores, short_text)
    long = encode(pieces, scores, long_text)[:30]
    assert len(long) == 30, len(long)
    seqs = []
    for name, text, ids, positions in [
        ("once", short_text, short, list(range(len(short)))),
        ("long", long_text, long, [0, 1, 2, 5, 10, 17, 24, 29]),
    ]:
        logits = forward(w, fcfg, ids, "pairs")
        seqs.append({"name": name, "text": text, "tokens": ids, "positions": positions,
                     "logits": [f32(logits[p]) for p in positions]})
        # float32 storage: check the rounding is the only loss.
        for p, row in zip(positions, seqs[-1]["logits"]):
            assert np.max(np.abs(np.array(row) - logits[p].numpy())) < 1e-5
    seqs[1]["note"] = "tokens are the first 30 ids of BOS followed by the encoding of text"

    greedy_runs = []
    runc_path = os.path.join(ROOT, "testdata", "llama", "run_c_greedy.json")
    runc = json.load(open(runc_path)) if os.path.exists(runc_path) else {"runs": [], "steps": 200}
    for run in runc["runs"]:
        prompt = encode(pieces, scores, run["prompt"])
        assert prompt == run["prompt_tokens"], (run["prompt"], prompt, run["prompt_tokens"])
        ours, margins = greedy(w, fcfg, prompt, runc["steps"], "pairs")
        same = 0
        while same < min(len(ours), len(run["generated"])) and ours[same] == run["generated"][same]:
            same += 1
        low = int(np.argmin(margins))
        print("prompt %r: %d prompt ids equal run.c's; greedy ids equal run.c's for the first %d of %d; "
              "smallest top-2 logit margin %.3g at sampled id %d"
              % (run["prompt"], len(prompt), same, len(run["generated"]), margins[low], low))
        greedy_runs.append({"prompt": run["prompt"], "prompt_tokens": prompt, "generated": ours,
                            "equal_to_run_c": same, "run_c_generated": len(run["generated"]),
                            "min_margin": float(repr(np.float32(margins[low]))), "min_margin_at": low})

    doc = {
        "about": "Logits of stories260K (llama2.c checkpoint, shared classifier) from tools/llama_reference.py: "
                 "float64 forward pass (RMSNorm eps 1e-5, RoPE theta 10000 on adjacent pairs, grouped-query "
                 "attention, SwiGLU), logits stored as float32. sequences[i].logits[j] are the logits after "
                 "tokens[0..positions[j]]. greedy: this reference's greedy decoding of run_c_greedy.json's "
                 "prompts (equal_to_run_c: how many leading ids equal run.c's; min_margin: the smallest "
                 "gap between the chosen logit and the runner-up along the way, at generated[min_margin_at]).",
        "model": "stories260K.bin",
        "model_sha256": sha256(model),
        "tokenizer": "tok512.bin",
        "tokenizer_sha256": sha256(tok),
        "config": {k: cfg[k] for k in ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads",
                                        "vocab_size", "seq_len", "shared_classifier", "eps", "theta"]},
        "sequences": seqs,
        "greedy": greedy_runs,
    }
    out = os.path.join(ROOT, "testdata", "llama", "stories260K_logits.json")
    dump_json(out, doc)
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    main()
