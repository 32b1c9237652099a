#!/usr/bin/python3
"""Write gograd's fixtures (forward, and backward where the op has a
gradient) under testdata/fixtures/ from PyTorch.

Run from anywhere with Debian's python (it has torch 1.13):

    /usr/bin/python3 tools/gen_fixtures.py            # every area
    /usr/bin/python3 tools/gen_fixtures.py reduce     # some areas

Each area (a module under tools/fixtures/) writes one JSON file; the format
is described in tools/fixtures/common.py and read by fixtures_test.go (and
fixtures_nn_test.go for nn.json). The output is deterministic: every area
seeds its own generator, and nothing depends on the clock.
"""

import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixtures import create, elementwise, linalg, movement, nn, reduce  # noqa: E402

AREAS = {m.__name__.split(".")[-1]: m for m in [create, elementwise, reduce, movement, linalg, nn]}


def main(argv):
    torch.manual_seed(0)
    torch.set_num_threads(1)  # reductions sum in one fixed order
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "testdata", "fixtures")
    os.makedirs(out, exist_ok=True)
    total, total_grads, skipped = 0, 0, {}
    for name in argv or list(AREAS):
        if name not in AREAS:
            sys.exit(f"unknown area {name!r}; have {sorted(AREAS)}")
        area = AREAS[name].build()
        path, n, ng = area.write(out)
        total += n
        total_grads += ng
        for why, k in area.skipped.items():
            skipped[why] = skipped.get(why, 0) + k
        why = ", ".join(f"{why} {k}" for why, k in sorted(area.skipped.items()))
        print(f"{os.path.relpath(path, root)}: {n} cases, {ng} with gradients (without: {why or 'none'})")
    why = ", ".join(f"{why} {k}" for why, k in sorted(skipped.items()))
    print(f"total: {total} cases, {total_grads} with gradients (without: {why or 'none'})")


if __name__ == "__main__":
    main(sys.argv[1:])
