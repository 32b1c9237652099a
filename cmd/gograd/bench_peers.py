"""Peer worker of `gograd bench`: runs one row's op in numpy or PyTorch.

Started by gograd bench (embedded in the binary) as
    python3 -c <this file> LIB THREADS
with LIB numpy or torch and the thread variables (OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS, MKL_NUM_THREADS) already set. It speaks JSON lines:
one request on stdin, one reply on stdout.

  first reply      {"lib", "version", "threads", "libs": [shared libraries
                   of BLAS/OpenMP kind that the process mapped]}, or
                   {"absent": why} when LIB does not import
  {"op": "setup", "id", "kind", "dims", "target"}
                   makes random inputs, warms up and picks how many calls
                   make one timed batch (about target seconds):
                   {"inner", "warm", "note"} or {"skip": why}
  {"op": "time", "id", "reps"}
                   {"times": [seconds per call, one per batch]}
  {"op": "free", "id"}
                   {"ok": true}
  any error        {"error": text}

Every op writes into an output made once at setup when the library has an
out= form (note "out"), and says so when it cannot ("fresh"). It needs
only Debian's python3 with python3-numpy and, for torch, python3-torch.
"""
import gc
import json
import math
import sys
import time


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def mapped_libs():
    """Shared libraries the process mapped whose names look like BLAS,
    LAPACK, OpenMP or oneDNN, as folder/name: which BLAS the peer really
    runs (on Debian, blas/libblas.so.3 is the slow reference BLAS and
    openblas-pthread/libblas.so.3 is OpenBLAS)."""
    keys = ("blas", "lapack", "mkl", "omp", "dnnl", "blis")
    out = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[-1].startswith("/"):
                    path = parts[-1].rsplit("/", 2)
                    if any(k in path[-1].lower() for k in keys):
                        out.add("/".join(path[-2:]))
    except OSError:
        pass
    return sorted(out)


def numpy_builder(np, kind, d, rnd):
    """Returns (fn, note) for numpy, or (None, why) to skip."""
    f32 = np.float32
    if kind == "matmul":
        n = d[0]
        a, b, o = rnd(n, n), rnd(n, n), np.empty((n, n), f32)
        return (lambda: np.matmul(a, b, out=o)), "out (np.matmul out=)"
    if kind == "matvec":
        n, k = d
        w, x, o = rnd(n, k), rnd(k), np.empty(n, f32)
        return (lambda: np.matmul(w, x, out=o)), "out (np.matmul out=)"
    if kind == "matvec_q8":
        return None, "numpy has no int8 matmul (it would multiply a float32 copy of the weights)"
    if kind == "conv2d":
        return None, "numpy has no conv2d"
    if kind == "fma":
        n = d[0]
        a, b, c, o = rnd(n), rnd(n), rnd(n), np.empty(n, f32)

        def fma():
            np.multiply(a, b, out=o)
            np.add(o, c, out=o)
        return fma, "out, two passes (multiply, add: numpy does not fuse)"
    if kind == "softmax":
        r, c = d
        x, o = rnd(r, c) * 4, np.empty((r, c), f32)
        m, s = np.empty((r, 1), f32), np.empty((r, 1), f32)

        def softmax():
            np.max(x, axis=1, keepdims=True, out=m)
            np.subtract(x, m, out=o)
            np.exp(o, out=o)
            np.sum(o, axis=1, keepdims=True, out=s)
            np.divide(o, s, out=o)
        return softmax, "out, five passes (max, subtract, exp, sum, divide)"
    if kind == "layernorm":
        r, c = d
        x, w, b, o = rnd(r, c) * 3 + 1, rnd(c), rnd(c), np.empty((r, c), f32)
        m, v = np.empty((r, 1), f32), np.empty(r, f32)

        def layernorm():
            np.mean(x, axis=1, keepdims=True, out=m)
            np.subtract(x, m, out=o)
            np.einsum("ij,ij->i", o, o, out=v)
            np.multiply(v, 1 / c, out=v)
            np.add(v, 1e-5, out=v)
            np.sqrt(v, out=v)
            np.reciprocal(v, out=v)
            np.multiply(o, v[:, None], out=o)
            np.multiply(o, w, out=o)
            np.add(o, b, out=o)
        return layernorm, "out, six passes over the matrix (mean, centre, variance, normalize, weight, bias)"
    return None, "numpy: unknown op " + kind


def torch_q8(torch, n, k, rnd, np, target):
    """The int8 matvec in PyTorch: a dynamically quantized Linear with
    per-channel int8 weights, on the fastest quantized engine this torch
    has (fbgemm, qnnpack, onednn); without one, the weights dequantized to
    float32 on every call."""
    import torch.ao.nn.quantized.dynamic as nnqd
    w8 = torch.from_numpy(np.random.default_rng(5).integers(-127, 128, size=(n, k), dtype=np.int8))
    s = torch.from_numpy((0.5 + np.random.default_rng(6).random(n, dtype=np.float32)) / 127)
    x = torch.from_numpy(rnd(1, k))
    best = None
    for eng in torch.backends.quantized.supported_engines:
        if eng == "none":
            continue
        try:
            torch.backends.quantized.engine = eng
            qw = torch.quantize_per_channel(w8.float() * s[:, None], s.double(), torch.zeros(n, dtype=torch.long), 0, torch.qint8)
            lin = nnqd.Linear(k, n, bias_=False, dtype=torch.qint8)
            lin.set_weight_bias(qw, None)
            lin(x)
            t0 = time.perf_counter()
            lin(x)
            t = time.perf_counter() - t0
        except Exception:  # an engine that cannot run this: try the next
            continue
        if best is None or t < best[0]:
            best = (t, eng, lin)
    if best is not None:
        torch.backends.quantized.engine = best[1]
        lin = best[2]
        return (lambda: lin(x)), ("fresh (dynamic int8 Linear, %s engine, per-channel scales; x is quantized to 8 bits per call)" % best[1])
    sc = s[:, None]
    xv = x[0]
    return (lambda: torch.mv(w8.float() * sc, xv)), "fresh; no quantized engine, so the weights are dequantized to float32 on every call"


def torch_builder(torch, np, kind, d, rnd, target):
    F = torch.nn.functional
    t = lambda *shape: torch.from_numpy(rnd(*shape))
    if kind == "matmul":
        n = d[0]
        a, b, o = t(n, n), t(n, n), torch.empty(n, n)
        return (lambda: torch.matmul(a, b, out=o)), "out (torch.matmul out=)"
    if kind == "matvec":
        n, k = d
        w, x, o = t(n, k), t(k), torch.empty(n)
        return (lambda: torch.mv(w, x, out=o)), "out (torch.mv out=)"
    if kind == "matvec_q8":
        return torch_q8(torch, d[0], d[1], rnd, np, target)
    if kind == "fma":
        n = d[0]
        a, b, c, o = t(n), t(n), t(n), torch.empty(n)
        return (lambda: torch.addcmul(c, a, b, out=o)), "out, one fused pass (torch.addcmul out=)"
    if kind == "softmax":
        r, c = d
        x, o = t(r, c) * 4, torch.empty(r, c)
        try:
            torch.softmax(x, -1, out=o)
            return (lambda: torch.softmax(x, -1, out=o)), "out (torch.softmax out=)"
        except TypeError:
            return (lambda: torch.softmax(x, -1)), "fresh (this torch.softmax has no out=)"
    if kind == "layernorm":
        r, c = d
        x, w, b = t(r, c) * 3 + 1, t(c), t(c)
        return (lambda: F.layer_norm(x, (c,), w, b, 1e-5)), "fresh (layer_norm has no out=)"
    if kind == "conv2d":
        n, c, h, wd, cout, k = d
        x, w = t(n, c, h, wd), t(cout, c, k, k)
        return (lambda: F.conv2d(x, w, padding=k // 2)), "fresh (conv2d has no out=)"
    return None, "torch: unknown op " + kind


def main():
    lib, threads = sys.argv[1], int(sys.argv[2])
    try:
        import numpy as np
        version = np.__version__
        torch = None
        if lib == "torch":
            import torch
            torch.set_num_threads(threads)
            torch.set_grad_enabled(False)
            version = torch.__version__
            threads = torch.get_num_threads()
        elif lib != "numpy":
            raise ImportError("unknown peer library " + lib)
    except Exception as e:  # ImportError, or a broken install
        reply({"absent": "%s: %s" % (type(e).__name__, e)})
        return
    seed = [1]

    def rnd(*shape):
        seed[0] += 1
        return np.random.default_rng(seed[0]).standard_normal(shape, dtype=np.float32)

    if torch is not None:  # map the libraries that the first calls load
        torch.mv(torch.ones(64, 64), torch.ones(64))
    else:
        np.ones((64, 64), np.float32) @ np.ones(64, np.float32)
    reply({"lib": lib, "version": version, "threads": threads, "libs": mapped_libs()})

    ops = {}
    for line in sys.stdin:
        try:
            req = json.loads(line)
            op = req["op"]
            if op == "setup":
                if torch is not None:
                    fn, note = torch_builder(torch, np, req["kind"], req["dims"], rnd, req["target"])
                else:
                    fn, note = numpy_builder(np, req["kind"], req["dims"], rnd)
                if fn is None:
                    reply({"skip": note})
                    continue
                # Warm up; a second call when the first was cheap.
                t0 = time.perf_counter()
                fn()
                warm = time.perf_counter() - t0
                if warm < 1:
                    t0 = time.perf_counter()
                    fn()
                    warm = min(warm, time.perf_counter() - t0)
                inner = max(1, min(1000, math.ceil(req["target"] / max(warm, 1e-9))))
                ops[req["id"]] = (fn, inner)
                reply({"inner": inner, "warm": warm, "note": note})
            elif op == "time":
                fn, inner = ops[req["id"]]
                times = []
                for _ in range(req["reps"]):
                    gc.collect()
                    t0 = time.perf_counter()
                    for _ in range(inner):
                        fn()
                    times.append((time.perf_counter() - t0) / inner)
                reply({"times": times})
            elif op == "free":
                ops.pop(req["id"], None)
                gc.collect()
                reply({"ok": True})
            else:
                reply({"error": "unknown op " + str(op)})
        except Exception as e:  # report, keep serving
            reply({"error": "%s: %s" % (type(e).__name__, e)})


main()
