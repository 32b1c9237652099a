#!/usr/bin/python3
"""Write the safetensors files that package nn's tests read, from PyTorch.

Run from anywhere with Debian's python (it has torch 1.13 and numpy):

    /usr/bin/python3 tools/gen_safetensors.py

It writes two files under nn/testdata/, with its own writer (numpy bytes and
json, not the safetensors package and not gograd), so that gograd's reader is
checked against an independent implementation of the format:

  dtypes.safetensors     one small tensor of every dtype gograd reads, with
                         values the Go test knows (see TestReadTorchFile),
                         plus a scalar, an empty tensor and metadata.
  reference.safetensors  PyTorch modules and losses on seeded inputs: for
                         each case "<case>/..." the module's state_dict
                         ("<case>/model.<name>", PyTorch's names), the inputs,
                         the outputs, the weight g of the scalar sum(out * g)
                         that backward ran on, and the gradients
                         ("<case>/grad.<name>"). See nn/reference_test.go.

The layout follows the format's reference writer: tensors sorted by dtype
size (largest first) then name, the header padded with spaces so the data
starts on an 8-byte boundary, offsets without holes. The output is
deterministic (seeded, no clock).
"""

import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {
    np.dtype(np.float64): "F64",
    np.dtype(np.float32): "F32",
    np.dtype(np.float16): "F16",
    np.dtype(np.int64): "I64",
    np.dtype(np.int32): "I32",
    np.dtype(np.int16): "I16",
    np.dtype(np.int8): "I8",
    np.dtype(np.uint64): "U64",
    np.dtype(np.uint32): "U32",
    np.dtype(np.uint16): "U16",
    np.dtype(np.uint8): "U8",
    np.dtype(np.bool_): "BOOL",
}


class Raw:
    """Bytes of a dtype numpy lacks (BF16), with its shape."""

    def __init__(self, dtype, itemsize, shape, data):
        self.dtype, self.itemsize, self.shape, self.data = dtype, itemsize, list(shape), data


def entry(v):
    """(dtype name, item size, shape, little-endian bytes) of a value."""
    if isinstance(v, Raw):
        return v.dtype, v.itemsize, v.shape, v.data
    if isinstance(v, torch.Tensor):
        if v.dtype == torch.bfloat16:
            a = v.detach().contiguous().view(torch.int16).numpy()
            return "BF16", 2, list(v.shape), a.astype("<i2").tobytes()
        v = v.detach().contiguous().numpy()
    a = np.array(v, copy=True, order="C")  # (ascontiguousarray makes 0-d 1-d)
    name = DTYPES[a.dtype]
    return name, a.dtype.itemsize, list(a.shape), a.astype(a.dtype.newbyteorder("<")).tobytes()


def write(path, tensors, metadata=None):
    items = [(n,) + entry(v) for n, v in tensors.items()]
    items.sort(key=lambda it: (-it[2], it[0]))  # by alignment, then name
    header, blobs, off = {}, [], 0
    for name, dt, _, shape, data in items:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    ordered = {}
    if metadata:
        ordered["__metadata__"] = metadata
    for k in sorted(header):
        ordered[k] = header[k]
    h = json.dumps(ordered, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return len(items)


def dtypes_file():
    base = [-3.5, -1.0, 0.0, 0.25, 1.5, 100.0]  # exact in every float type
    ints = [-128, -1, 0, 1, 2, 127]
    t = {
        "f64": torch.tensor(base, dtype=torch.float64).reshape(2, 3),
        "f32": torch.tensor(base, dtype=torch.float32).reshape(3, 2),
        "f16": torch.tensor(base, dtype=torch.float16),
        "bf16": torch.tensor(base, dtype=torch.bfloat16).reshape(1, 6),
        "i64": torch.tensor([-(2**62), -1, 0, 1, 2**40, 2**62], dtype=torch.int64),
        "i32": torch.tensor([-(2**31), -1, 0, 1, 7, 2**31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-(2**15), -1, 0, 1, 300, 2**15 - 1], dtype=torch.int16),
        "i8": torch.tensor(ints, dtype=torch.int8).reshape(2, 1, 3),
        "u8": torch.tensor([0, 1, 2, 127, 128, 255], dtype=torch.uint8),
        # torch 1.13 has no uint16/32/64: numpy writes them.
        "u16": np.array([0, 1, 2, 300, 40000, 65535], dtype=np.uint16),
        "u32": np.array([0, 1, 2, 70000, 2**31, 2**32 - 1], dtype=np.uint32),
        "u64": np.array([0, 1, 2, 2**33, 2**63, 2**64 - 1], dtype=np.uint64),
        "bool": torch.tensor([True, False, False, True, True, False]).reshape(3, 2),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    return t, {"format": "pt", "source": "tools/gen_safetensors.py"}


def case(out, name, module, inputs, fwd=None, extra=None):
    """Run module on inputs, backward sum(out*g), record everything."""
    for k, v in module.state_dict().items():
        out[f"{name}/model.{k}"] = v.detach().clone()
    xs = []
    for i, x in enumerate(inputs):
        if x.is_floating_point():
            x = x.clone().requires_grad_(True)
        xs.append(x)
        out[f"{name}/x{i}"] = x.detach().clone()
    y = fwd(module, *xs) if fwd else module(*xs)
    g = torch.randn(y.shape)
    (y * g).sum().backward()
    out[f"{name}/y"] = y.detach().clone()
    out[f"{name}/g"] = g
    for k, p in module.named_parameters():
        out[f"{name}/grad.{k}"] = p.grad.detach().clone()
    for i, x in enumerate(xs):
        if x.requires_grad:
            out[f"{name}/dx{i}"] = x.grad.detach().clone()
    for k, v in (extra or {}).items():
        out[f"{name}/{k}"] = v


def perturb(m):
    """Move norm weights off their ones/zeros defaults so they matter."""
    with torch.no_grad():
        for k, p in m.named_parameters():
            p.add_(torch.randn(p.shape) * 0.3)


def reference_file():
    out = {}
    r = torch.randn

    case(out, "linear", torch.nn.Linear(5, 4), [r(2, 3, 5)])
    case(out, "linear_nobias", torch.nn.Linear(5, 3, bias=False), [r(4, 5)])
    case(out, "conv1d", torch.nn.Conv1d(3, 4, 3, stride=2, padding=1), [r(2, 3, 9)])
    case(out, "conv2d", torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), groups=2), [r(2, 4, 7, 6)])
    case(out, "conv2d_dil", torch.nn.Conv2d(2, 3, 3, padding=2, dilation=2, bias=False), [r(1, 2, 6, 5)])
    case(out, "convt2d", torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), [r(2, 4, 3, 4)])

    ln = torch.nn.LayerNorm((4, 5))
    perturb(ln)
    case(out, "layernorm", ln, [r(2, 3, 4, 5)])
    gn = torch.nn.GroupNorm(2, 6)
    perturb(gn)
    case(out, "groupnorm", gn, [r(2, 6, 4)])

    rms = torch.nn.Module()  # torch 1.13 has no RMSNorm: the formula
    rms.weight = torch.nn.Parameter(1 + 0.3 * r(6))
    case(out, "rmsnorm", rms, [r(2, 3, 6)],
         fwd=lambda m, x: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * m.weight)

    emb = torch.nn.Embedding(10, 4)
    case(out, "embedding", emb, [torch.tensor([[1, 3, 3], [9, 0, 4]])])

    # BatchNorm: two training steps (running stats move), then eval.
    for name, mod, shapes in [("bn1d", torch.nn.BatchNorm1d(4), [(6, 4), (5, 4, 3)]),
                              ("bn2d", torch.nn.BatchNorm2d(3, momentum=0.3), [(4, 3, 5, 5), (2, 3, 4, 3)])]:
        perturb(mod)
        mod.train()
        x1 = r(*shapes[0]) * 2 + 1
        # Step 1 from the default running stats; its result is the model
        # state of the recorded case, step 2.
        y1 = mod(x1).detach().clone()
        case(out, name, mod, [r(*shapes[1])], extra={"x_step1": x1, "y_step1": y1})
        for k, v in mod.state_dict().items():
            out[f"{name}/after.{k}"] = v.clone()
        mod.eval()
        x3 = r(*shapes[1])
        out[f"{name}/x_eval"] = x3
        out[f"{name}/y_eval"] = mod(x3).detach().clone()

    for name, bf, kw in [("mha", True, {}), ("mha_seq", False, {}), ("mha_nobias", True, {"bias": False})]:
        m = torch.nn.MultiheadAttention(8, 2, batch_first=bf, **kw)
        perturb(m)
        x = r(2, 5, 8) if bf else r(5, 2, 8)
        case(out, name, m, [x], fwd=lambda m, x: m(x, x, x, need_weights=False)[0])
    m = torch.nn.MultiheadAttention(8, 4, batch_first=True)
    perturb(m)
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)
    case(out, "mha_causal", m, [r(2, 5, 8)],
         fwd=lambda m, x: m(x, x, x, attn_mask=causal, need_weights=False)[0])
    m = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    perturb(m)
    kpm = torch.tensor([[False, False, False, True, True], [False, False, False, False, False]])
    fmask = r(3, 5)
    case(out, "mha_cross", m, [r(2, 3, 8), r(2, 5, 8)],
         fwd=lambda m, q, kv: m(q, kv, kv, attn_mask=fmask, key_padding_mask=kpm, need_weights=False)[0],
         extra={"attn_mask": fmask, "key_padding_mask": kpm})

    seq = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    case(out, "mlp", seq, [r(4, 6)])

    # Losses: the scalar or per-element loss of input x0 (and target).
    def loss_case(name, fn, x, target, **kw):
        extra = {"target": target}
        for k, v in kw.items():
            if isinstance(v, torch.Tensor):
                extra[k] = v
        case(out, name, torch.nn.Module(), [x], fwd=lambda m, x: fn(x, target, **kw), extra=extra)

    logits = r(6, 5) * 2
    tgt = torch.tensor([0, 4, -100, 2, 2, 1])
    w = torch.rand(5) + 0.5
    loss_case("ce", F.cross_entropy, logits, tgt)
    loss_case("ce_sum", F.cross_entropy, logits, tgt, reduction="sum")
    loss_case("ce_none", F.cross_entropy, logits, tgt, reduction="none")
    loss_case("ce_smooth", F.cross_entropy, logits, tgt, label_smoothing=0.1)
    loss_case("ce_weight", F.cross_entropy, logits, tgt, weight=w)
    loss_case("ce_weight_smooth", F.cross_entropy, logits, tgt, weight=w, label_smoothing=0.2)
    loss_case("ce_weight_smooth_none", F.cross_entropy, logits, tgt, weight=w, label_smoothing=0.2, reduction="none")
    loss_case("ce_ignore", F.cross_entropy, logits, torch.tensor([0, 4, 1, 2, 2, 1]), ignore_index=2)
    loss_case("ce_nd", F.cross_entropy, r(2, 4, 3, 2), torch.tensor([[[0, 3], [1, 1], [2, -100]], [[3, 3], [0, 2], [1, 0]]]))
    loss_case("ce_probs", F.cross_entropy, logits, torch.softmax(r(6, 5), 1), label_smoothing=0.1)
    logp = torch.log_softmax(r(6, 5), 1)
    loss_case("nll", F.nll_loss, logp, tgt)
    loss_case("nll_weight", F.nll_loss, logp, tgt, weight=w)
    a, b = r(3, 4), r(3, 4)
    loss_case("mse", F.mse_loss, a, b)
    loss_case("mse_sum", F.mse_loss, a, b, reduction="sum")
    loss_case("l1", F.l1_loss, a, b)
    loss_case("l1_none", F.l1_loss, a, b, reduction="none")
    p = torch.rand(3, 4) * 0.98 + 0.01
    y01 = (torch.rand(3, 4) > 0.5).float()
    loss_case("bce", F.binary_cross_entropy, p, y01)
    loss_case("bce_weight", F.binary_cross_entropy, p, y01, weight=torch.rand(4) + 0.5)
    z = r(3, 4) * 4
    z[0, 0], z[0, 1] = 60.0, -60.0  # the stable form must not overflow
    loss_case("bcel", F.binary_cross_entropy_with_logits, z, y01)
    loss_case("bcel_pos", F.binary_cross_entropy_with_logits, z, y01, pos_weight=torch.rand(4) + 0.5)
    loss_case("bcel_none", F.binary_cross_entropy_with_logits, z, torch.rand(3, 4), reduction="none")
    return out


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "nn", "testdata")
    os.makedirs(out, exist_ok=True)
    t, meta = dtypes_file()
    n = write(os.path.join(out, "dtypes.safetensors"), t, meta)
    print(f"nn/testdata/dtypes.safetensors: {n} tensors")
    n = write(os.path.join(out, "reference.safetensors"), reference_file(), {"torch": torch.__version__})
    print(f"nn/testdata/reference.safetensors: {n} tensors")


if __name__ == "__main__":
    main()
