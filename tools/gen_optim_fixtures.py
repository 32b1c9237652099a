#!/usr/bin/python3
"""Write the fixtures of package nn/optim from torch.optim (torch 1.13).

Run from anywhere with Debian's python (it has torch 1.13):

    /usr/bin/python3 tools/gen_optim_fixtures.py

It writes three JSON files under nn/optim/testdata/, read by the tests of
package optim (fixtures_test.go there):

  optimizers.json  a small model, the loss it is trained on, and for each
                   optimizer case the loss before and the parameters after
                   each of 10 steps (SGD, SGD-momentum with and without
                   Nesterov, dampening and weight decay, Adam, AdamW, with
                   AMSGrad, maximize, a schedule and gradient clipping, and
                   LAMB from the reference implementation below);
  schedules.json   the learning rate torch's schedulers give at each of 50
                   steps (StepLR, CosineAnnealingLR, LinearLR warm-up chained
                   by SequentialLR, OneCycleLR);
  clip.json        gradients before and after clip_grad_norm_, and the total
                   norm it returns.

Numbers are plain JSON numbers: float32 values written as the float64 that
holds them exactly, so the Go side reads them back bit for bit. The output is
deterministic: inputs come from a seeded generator and one thread computes.
"""

import json
import os
import sys
import warnings

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the tree

STEPS = 10        # optimizer steps per case
SCHED_STEPS = 50  # learning rates per schedule case


def flat(t):
    """The elements of a tensor as a list of Python floats (row-major)."""
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def tensor_json(t):
    return {"shape": list(t.shape), "data": flat(t)}


# --- the model ---------------------------------------------------------------

def make_model():
    """A fixed input, target and two parameters: w (4, 3) and b (3,)."""
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(8, 4, generator=g)
    y = torch.randn(8, 3, generator=g) * 0.5
    w = torch.randn(4, 3, generator=g) * 0.5
    b = torch.randn(3, generator=g) * 0.1
    return x, y, w, b


def loss_fn(x, y, w, b):
    """The loss the Go test rebuilds: mean((tanh(x @ w + b) - y)^2)."""
    return (torch.tanh(x @ w + b) - y).square().mean()


# --- LAMB: the reference implementation --------------------------------------

class Lamb(torch.optim.Optimizer):
    """LAMB (You et al., "Large Batch Optimization for Deep Learning", 2019,
    Algorithm 2) in the variant most implementations share (TensorFlow
    Addons, timm, NVIDIA apex with bias correction on):

        m = b1 m + (1 - b1) g            v = b2 v + (1 - b2) g^2
        r = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
        u = r + weight_decay * w
        trust = |w| / |u|   (1 where either norm is zero)
        w = w - lr * trust * u

    with the paper's scaling function phi the identity (no clamp of |w|)
    and no gradient clipping inside the optimizer. Written with the same
    float32 tensor arithmetic as torch's Adam; scalars in float64.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                st["step"] += 1
                t = st["step"]
                m, v, g = st["exp_avg"], st["exp_avg_sq"], p.grad
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                r = (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + group["eps"])
                u = r + group["weight_decay"] * p
                wn, un = p.norm(), u.norm()
                trust = torch.where((wn > 0) & (un > 0), wn / un, torch.ones_like(wn))
                p.sub_(group["lr"] * trust * u)


# --- optimizer cases ----------------------------------------------------------

# Each case: name, kind (the Go constructor), hyperparameters (as the Go side
# names them), and optionally a schedule (name of a SCHEDULES entry the Go
# side builds too) or a clip max norm applied after backward.
OPT_CASES = [
    ("sgd", "SGD", dict(lr=0.1)),
    ("sgd_momentum", "SGD", dict(lr=0.1, momentum=0.9)),
    ("sgd_momentum_dampening_wd", "SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("sgd_nesterov", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd_nesterov_wd", "SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("sgd_maximize", "SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("adam", "Adam", dict(lr=0.01)),
    ("adam_wd_amsgrad", "Adam", dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("adam_maximize", "Adam", dict(lr=0.01, maximize=True)),
    ("adamw", "AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("adamw_amsgrad", "AdamW", dict(lr=0.02, beta1=0.85, beta2=0.995, eps=1e-7, weight_decay=0.5, amsgrad=True)),
    ("lamb", "LAMB", dict(lr=0.01)),
    ("lamb_wd", "LAMB", dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1)),
    # A learning rate that changes every step, and clipping inside the loop.
    ("adamw_onecycle", "AdamW", dict(lr=0.01, weight_decay=0.01), {"schedule": "onecycle_10"}),
    ("sgd_momentum_clip", "SGD", dict(lr=0.1, momentum=0.9), {"clip": 0.05}),
]


def make_optimizer(kind, params, h):
    betas = (h.get("beta1", 0.9), h.get("beta2", 0.999))
    if kind == "SGD":
        return torch.optim.SGD(params, lr=h["lr"], momentum=h.get("momentum", 0), dampening=h.get("dampening", 0),
                               weight_decay=h.get("weight_decay", 0), nesterov=h.get("nesterov", False),
                               maximize=h.get("maximize", False))
    if kind == "Adam":
        return torch.optim.Adam(params, lr=h["lr"], betas=betas, eps=h.get("eps", 1e-8),
                                weight_decay=h.get("weight_decay", 0), amsgrad=h.get("amsgrad", False),
                                maximize=h.get("maximize", False))
    if kind == "AdamW":
        return torch.optim.AdamW(params, lr=h["lr"], betas=betas, eps=h.get("eps", 1e-8),
                                 weight_decay=h.get("weight_decay", 0.01), amsgrad=h.get("amsgrad", False),
                                 maximize=h.get("maximize", False))
    if kind == "LAMB":
        return Lamb(params, lr=h["lr"], betas=betas, eps=h.get("eps", 1e-6), weight_decay=h.get("weight_decay", 0))
    raise ValueError(kind)


def run_case(model, case):
    name, kind, hyper = case[:3]
    extra = case[3] if len(case) > 3 else {}
    x, y, w0, b0 = model
    w = w0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    opt = make_optimizer(kind, [w, b], hyper)
    sched = None
    if "schedule" in extra:
        sched = make_scheduler(opt, SCHEDULES_BY_NAME[extra["schedule"]])
    losses, lrs, params = [], [], []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(x, y, w, b)
        loss.backward()
        if "clip" in extra:
            torch.nn.utils.clip_grad_norm_([w, b], extra["clip"])
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(float(loss))
        params.append([flat(w), flat(b)])
    out = {"name": name, "kind": kind, "hyper": hyper, "losses": losses, "lrs": lrs, "params": params}
    out.update(extra)
    return out


# --- schedule cases -------------------------------------------------------------

# Each: name, base lr of the optimizer, and the Go description of the schedule.
SCHEDULES = [
    {"name": "step", "lr": 0.1, "kind": "StepDecay", "step_size": 10, "gamma": 0.5},
    {"name": "step_odd", "lr": 0.3, "kind": "StepDecay", "step_size": 7, "gamma": 0.9},
    {"name": "cosine", "lr": 0.1, "kind": "Cosine", "steps": 50, "min": 0.0},
    {"name": "cosine_min_past_end", "lr": 0.05, "kind": "Cosine", "steps": 30, "min": 0.001},
    {"name": "warmup_cosine", "lr": 0.1, "kind": "Warmup", "warmup": 5, "start_factor": 0.1,
     "then": {"kind": "Cosine", "steps": 45, "min": 0.0}},
    {"name": "warmup_step", "lr": 0.2, "kind": "Warmup", "warmup": 8, "start_factor": 0.25,
     "then": {"kind": "StepDecay", "step_size": 10, "gamma": 0.1}},
    {"name": "onecycle", "lr": 0.1, "kind": "OneCycle", "total_steps": 50},
    {"name": "onecycle_37", "lr": 0.5, "kind": "OneCycle", "total_steps": 37},
    {"name": "onecycle_10", "lr": 0.01, "kind": "OneCycle", "total_steps": 10},
]
SCHEDULES_BY_NAME = {s["name"]: s for s in SCHEDULES}


def torch_scheduler(opt, d):
    if d["kind"] == "StepDecay":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=d["step_size"], gamma=d["gamma"])
    if d["kind"] == "Cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=d["steps"], eta_min=d["min"])
    if d["kind"] == "OneCycle":
        # PyTorch's defaults: cos annealing, pct_start 0.3, div_factor 25,
        # final_div_factor 1e4; momentum is not cycled (gograd's schedule is
        # about the learning rate only).
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=opt.param_groups[0]["lr"], total_steps=d["total_steps"],
                                                   cycle_momentum=False)
    if d["kind"] == "Warmup":
        warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=d["start_factor"], end_factor=1.0,
                                                 total_iters=d["warmup"])
        then = torch_scheduler(opt, d["then"])
        return torch.optim.lr_scheduler.SequentialLR(opt, [warm, then], milestones=[d["warmup"]])
    raise ValueError(d["kind"])


def make_scheduler(opt, d):
    return torch_scheduler(opt, d)


def run_schedule(d):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=d["lr"], momentum=0.9)
    sched = make_scheduler(opt, d)
    n = min(SCHED_STEPS, d.get("total_steps", SCHED_STEPS))
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    out = dict(d)
    out["lrs"] = lrs
    return out


# --- clip cases ------------------------------------------------------------------

CLIP_CASES = [("clips", 1.0), ("no_clip", 100.0), ("tight", 0.01), ("zero_max", 0.0)]


def run_clip(name, max_norm, g):
    w = torch.zeros(4, 3, requires_grad=True)
    b = torch.zeros(3, requires_grad=True)
    w.grad = torch.randn(4, 3, generator=g)
    b.grad = torch.randn(3, generator=g) * 0.3
    before = [tensor_json(w.grad), tensor_json(b.grad)]
    total = torch.nn.utils.clip_grad_norm_([w, b], max_norm)
    return {"name": name, "max_norm": max_norm, "grads": before, "total_norm": float(total),
            "clipped": [flat(w.grad), flat(b.grad)]}


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def main():
    # SequentialLR steps the next scheduler with an explicit epoch, which
    # torch 1.13 warns about; the behaviour is what the fixture records.
    warnings.filterwarnings("ignore", message="The epoch parameter")
    torch.manual_seed(0)
    torch.set_num_threads(1)  # reductions sum in one fixed order
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "nn", "optim", "testdata")
    os.makedirs(out, exist_ok=True)

    model = make_model()
    x, y, w, b = model
    opt = {"format": 1, "torch": torch.__version__, "steps": STEPS,
           "loss": "mean((tanh(x @ w + b) - y)^2)",
           "x": tensor_json(x), "y": tensor_json(y), "w": tensor_json(w), "b": tensor_json(b),
           "cases": [run_case(model, c) for c in OPT_CASES]}
    write(os.path.join(out, "optimizers.json"), opt)

    sched = {"format": 1, "torch": torch.__version__, "cases": [run_schedule(d) for d in SCHEDULES]}
    write(os.path.join(out, "schedules.json"), sched)

    g = torch.Generator().manual_seed(99)
    clip = {"format": 1, "torch": torch.__version__, "cases": [run_clip(n, m, g) for n, m in CLIP_CASES]}
    write(os.path.join(out, "clip.json"), clip)

    for f in ["optimizers.json", "schedules.json", "clip.json"]:
        print(os.path.relpath(os.path.join(out, f), root))


if __name__ == "__main__":
    main()
