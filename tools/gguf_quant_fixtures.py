#!/usr/bin/env python3
"""Writes nn/gguf/testdata/quant.gguf: reference fixtures for nn/gguf and nn/quant.

The reference is llama.cpp's gguf-py (its numpy quantize/dequantize in
gguf/quants.py and its GGUFWriter); it is not vendored: pass the path of a
llama.cpp checkout's gguf-py folder.

    git --git-dir=LLAMA_CPP_GIT archive HEAD gguf-py | tar -x -C /tmp/llamacpp
    /usr/bin/python3 tools/gguf_quant_fixtures.py /tmp/llamacpp/gguf-py nn/gguf/testdata/quant.gguf

(numpy needed; the committed file was made with llama.cpp commit
c392e5094deaf2d1a7c18683214f007fad3fe42b and numpy 1.24, and the output is
deterministic.)

The file, written by GGUFWriter with alignment 64, holds:
  - metadata of every value type: the 12 scalar types (negative and large
    values to test sign extension and width conversion) and arrays of
    uint8, int32, float32, bool, string, and arrays of arrays (of
    different element types, and three deep);
  - for each quantized type T in q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k
    a tensor "T" and "T.expect", gguf-py's dequantization of it to F32;
    for the types gguf-py can quantize (q8_0, q4_0, q4_1, q5_0, q5_1) also
    "T.source", the F32 matrix that gguf-py quantized into "T".
    gguf-py has no quantizer for Q4_K, Q5_K and Q6_K (only dequantizers),
    so those tensors are random block bytes with finite half scales;
  - "f16", "bf16" with their "*.expect" and "*.source".
Shapes are 2 x 512 (ggml dims [512, 2]), except q4_1 which is 2 x 2 x 256
(dims [256, 2, 2]) to cover a tensor of three dimensions.
"""

import sys
import types

import numpy as np


def load_gguf(path):
    sys.path.insert(0, path)
    try:
        import sentencepiece  # noqa: F401  (gguf.vocab imports it; unused here)
    except ImportError:
        stub = types.ModuleType("sentencepiece")
        stub.SentencePieceProcessor = None
        sys.modules["sentencepiece"] = stub
    import gguf
    return gguf


def source_matrix(rng, rows, cols):
    """Gaussian weights, with edge-case blocks of 32 in the last row."""
    w = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    last = w[-1]
    last[0:32] = 0                                      # all zero: d = 0
    last[32:64] = 0; last[40] = -3.0                    # one negative spike
    last[64:96] = -1.25                                 # all equal, negative
    last[96:128] = np.arange(32, dtype=np.float32) - 15.5  # halves: rounding ties
    last[128:160] = rng.standard_normal(32).astype(np.float32) * 1e-6  # subnormal half scales
    last[160:192] = rng.standard_normal(32).astype(np.float32) * 300   # large scales
    last[192:224] = 127; last[200] = -127               # max and -max tie: first wins
    return w


def fma_sensitive(blocks, offset):
    """Counts elements where Q4_0/Q5_0's trunc(x*id + offset+0.5) differs
    between a fused multiply-add (what gguf-py emulates in float64) and
    float32 rounding after each operation (what the C source says without
    contraction, and what gograd does)."""
    imax = np.abs(blocks).argmax(axis=-1)
    mx = blocks[np.arange(len(blocks)), imax][:, None]
    d = (mx / np.float32(-offset)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    fused = np.trunc(np.float64(blocks) * np.float64(idv) + np.float64(offset + 0.5))
    x0 = (blocks * idv).astype(np.float32)
    unfused = np.trunc((x0 + np.float32(offset + 0.5)).astype(np.float32))
    return int(np.sum(fused != unfused))


def random_k_blocks(rng, qtype, rows, cols, gguf):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    nb = rows * cols // block
    raw = rng.randint(0, 256, size=(nb, size)).astype(np.uint8)
    def halves(n):
        return (rng.standard_normal(n) * 0.01).astype(np.float16).view(np.uint8).reshape(n, 2)
    T = gguf.GGMLQuantizationType
    if qtype in (T.Q4_K, T.Q5_K):
        raw[:, 0:2] = halves(nb)   # d
        raw[:, 2:4] = halves(nb)   # dmin
    elif qtype == T.Q6_K:
        raw[:, 208:210] = halves(nb)
    return raw.reshape(rows, cols // block * size)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gguf_quant_fixtures.py PATH/TO/llama.cpp/gguf-py OUT.gguf")
    gguf = load_gguf(sys.argv[1])
    T, V = gguf.GGMLQuantizationType, gguf.GGUFValueType
    rng = np.random.RandomState(20250220)
    rows, cols = 2, 512

    w = gguf.GGUFWriter(sys.argv[2], arch="gograd-fixture")
    w.add_custom_alignment(64)
    w.add_key_value("test.uint8", 200, V.UINT8)
    w.add_key_value("test.int8", -5, V.INT8)
    w.add_key_value("test.uint16", 60000, V.UINT16)
    w.add_key_value("test.int16", -300, V.INT16)
    w.add_key_value("test.uint32", 4000000000, V.UINT32)
    w.add_key_value("test.int32", -70000, V.INT32)
    w.add_key_value("test.float32", 0.1, V.FLOAT32)
    w.add_key_value("test.bool", True, V.BOOL)
    w.add_key_value("test.string", "héllo, gguf", V.STRING)
    w.add_key_value("test.uint64", 2**63 + 5, V.UINT64)
    w.add_key_value("test.int64", -2**40, V.INT64)
    w.add_key_value("test.float64", 1e300, V.FLOAT64)
    w.add_key_value("test.array.uint8", b"\x00\x01\xff", V.ARRAY)
    w.add_key_value("test.array.int32", [1, -2, 3], V.ARRAY)
    w.add_key_value("test.array.float32", [0.5, -1.5, 3.25], V.ARRAY)
    w.add_key_value("test.array.bool", [True, False, True], V.ARRAY)
    w.add_key_value("test.array.string", ["a", "", "ünï"], V.ARRAY)
    w.add_key_value("test.array.nested", [[1, 2], [3]], V.ARRAY)
    w.add_key_value("test.array.mixed", [[1, 2], ["x", "y"]], V.ARRAY)
    w.add_key_value("test.array.deep", [[[0.5]], [[1.5, 2.5]]], V.ARRAY)

    for name, qtype in [("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1), ("q5_0", T.Q5_0), ("q5_1", T.Q5_1)]:
        src = source_matrix(rng, rows, cols)
        if name == "q4_1":
            src = src.reshape(2, 2, 256)
        q = gguf.quantize(src, qtype)
        for quantizer, offset in (("q4_0", 8), ("q5_0", 16)):
            if name == quantizer:
                n = fma_sensitive(src.reshape(-1, 32), offset)
                print(f"{name}: {n} elements where a fused multiply-add would round differently")
                assert n == 0, "choose other data: the fixture must not depend on FMA"
        w.add_tensor(name, q, raw_dtype=qtype)
        w.add_tensor(name + ".source", src)
        w.add_tensor(name + ".expect", gguf.dequantize(q, qtype))
    for name, qtype in [("q4_k", T.Q4_K), ("q5_k", T.Q5_K), ("q6_k", T.Q6_K)]:
        q = random_k_blocks(rng, qtype, rows, cols, gguf)
        w.add_tensor(name, q, raw_dtype=qtype)
        w.add_tensor(name + ".expect", gguf.dequantize(q, qtype))

    src = source_matrix(rng, rows, cols)
    w.add_tensor("f16", src.astype(np.float16))
    w.add_tensor("f16.source", src)
    w.add_tensor("f16.expect", src.astype(np.float16).astype(np.float32))
    bf = gguf.quantize(src, T.BF16)
    w.add_tensor("bf16", bf, raw_dtype=T.BF16)
    w.add_tensor("bf16.source", src)
    w.add_tensor("bf16.expect", gguf.dequantize(bf, T.BF16))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
