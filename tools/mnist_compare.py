#!/usr/bin/env python3
"""Train examples/mnist's network with PyTorch CPU, the same way, for a timing and accuracy comparison.

The network is tinygrad's beautiful_mnist CNN as examples/mnist/model.go builds it (the same layers
in the same nn.Sequential order, so the state-dict names match); the recipe is the example's: the
first 8,000 digits of shared/data/mnist train and the last 2,000 test, Adam with lr 1e-3, batches of
512 from a fresh shuffle every epoch (the last batch of an epoch is 320 digits), test after every
epoch in evaluation mode. Only the random numbers differ (torch's generator, not gograd's).

It prints a line per epoch and, in the same format as the Go example, the training time (testing
excluded) and the final accuracy:

    trained 128 steps in 123.4 s: 1.037 steps/s, 0.964 s per step
    test accuracy: 97.30%

Usage (Debian's python3-torch is /usr/bin/python3):

    /usr/bin/python3 tools/mnist_compare.py --threads 2 --epochs 8 [--data ../shared/data/mnist]

tools/mnist_compare.sh runs this and `go run ./examples/mnist` with the same threads and prints the
ratio of their times per step.
"""
import argparse
import gzip
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_TRAIN = 8000

# IDX element types: code -> big-endian numpy dtype.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Reads an IDX file (gzip or not) into a numpy array, checking its header against its size."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dt = np.dtype(IDX_TYPES[raw[2]])
    data = raw[4 + 4 * ndim:]
    if len(data) != int(np.prod(dims, dtype=np.int64)) * dt.itemsize:
        raise ValueError(f"{path}: {len(data)} bytes of elements do not fit dimensions {dims}")
    return np.frombuffer(data, dt).reshape(dims)


def model():
    """beautiful_mnist, as examples/mnist/model.go."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(),
        nn.Conv2d(32, 32, 5), nn.ReLU(),
        nn.BatchNorm2d(32), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.BatchNorm2d(64), nn.MaxPool2d(2),
        nn.Flatten(1), nn.Linear(576, 10))


def evaluate(net, x, y, batch):
    net.eval()
    correct = 0
    with torch.no_grad():
        for lo in range(0, len(x), batch):
            correct += (net(x[lo:lo + batch]).argmax(1) == y[lo:lo + batch]).sum().item()
    net.train()
    return 100.0 * correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data/mnist", help="folder of the 10,000-digit IDX files")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: run every epoch)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images = read_idx(f"{args.data}/mnist10k-images-idx3-ubyte.gz")
    labels = read_idx(f"{args.data}/mnist10k-labels-idx1-ubyte.gz")
    x = torch.tensor(images.astype(np.float32) / np.float32(255)).unsqueeze(1)  # (N, 1, 28, 28)
    y = torch.tensor(labels.astype(np.int64))
    xtr, ytr, xte, yte = x[:NUM_TRAIN], y[:NUM_TRAIN], x[NUM_TRAIN:], y[NUM_TRAIN:]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, seed {args.seed}, "
          f"{len(xtr)} training digits, {len(xte)} test digits")

    net = model()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps, train_s, acc = 0, 0.0, 0.0
    for epoch in range(args.epochs):
        order = torch.randperm(len(xtr))
        batches = [order[lo:lo + args.batch] for lo in range(0, len(xtr), args.batch)]
        if args.steps:
            batches = batches[:max(0, args.steps - steps)]
        start, loss_sum = time.perf_counter(), 0.0
        for idx in batches:
            opt.zero_grad()
            loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            steps += 1
        took = time.perf_counter() - start
        train_s += took
        acc = evaluate(net, xte, yte, args.batch)
        print(f"epoch {epoch + 1}: {len(batches)} steps in {took:.1f} s ({len(batches) / took:.2f} steps/s), "
              f"mean loss {loss_sum / max(len(batches), 1):.4f}, test accuracy {acc:.2f}%", flush=True)
        if args.steps and steps >= args.steps:
            break
    print(f"trained {steps} steps in {train_s:.1f} s: {steps / train_s:.3f} steps/s, {train_s / steps:.3f} s per step")
    print(f"test accuracy: {acc:.2f}%")


if __name__ == "__main__":
    main()
