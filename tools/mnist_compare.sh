#!/bin/sh
# Trains the MNIST CNN of examples/mnist with gograd and with PyTorch CPU
# (tools/mnist_compare.py), the same network, recipe and thread count, one
# after the other, and prints both times per step and their ratio.
#
#   tools/mnist_compare.sh                     # 8 epochs, 2 threads
#   THREADS=2 EPOCHS=3 tools/mnist_compare.sh
#   STEPS=10 tools/mnist_compare.sh            # a quick timing (10 steps each)
#
# Run it from the repository root. PYTHON is the Python with torch (Debian's
# python3-torch: /usr/bin/python3); DATA the 10,000-digit set. Extra
# arguments go to the Go example (-device GO, -seed 1, ...). Machines that
# others share make the times noisy: compare runs taken back to back.
set -eu

THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-8}
STEPS=${STEPS:-0}
DATA=${DATA:-../shared/data/mnist}
PYTHON=${PYTHON:-/usr/bin/python3}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

go build -o "$out/mnist" ./examples/mnist
echo "== gograd ($THREADS threads, $EPOCHS epochs)"
"$out/mnist" -threads "$THREADS" -epochs "$EPOCHS" -steps "$STEPS" -data "$DATA" "$@" | tee "$out/gograd.txt"
echo "== PyTorch ($THREADS threads, $EPOCHS epochs)"
"$PYTHON" tools/mnist_compare.py --threads "$THREADS" --epochs "$EPOCHS" --steps "$STEPS" --data "$DATA" | tee "$out/torch.txt"

# "trained 128 steps in 123.4 s: 1.037 steps/s, 0.964 s per step"
per_step() { sed -n 's/^trained .*, \([0-9.]*\) s per step$/\1/p' "$1"; }
accuracy() { sed -n 's/^test accuracy: \(.*\)$/\1/p' "$1"; }
g=$(per_step "$out/gograd.txt")
t=$(per_step "$out/torch.txt")
echo "== summary ($(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "gograd:  $g s per step, test accuracy $(accuracy "$out/gograd.txt")"
echo "PyTorch: $t s per step, test accuracy $(accuracy "$out/torch.txt")"
awk -v g="$g" -v t="$t" 'BEGIN {
	if (g <= 0 || t <= 0) { print "ratio: unavailable"; exit }
	if (g <= t) printf "gograd is %.2fx as fast as PyTorch (time per step %.2f of PyTorch'"'"'s)\n", t / g, g / t
	else printf "gograd is %.2fx slower than PyTorch (time per step %.2fx PyTorch'"'"'s)\n", g / t, g / t
}'
