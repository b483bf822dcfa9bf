#!/usr/bin/env bash
# The main job: install tinyconv, then train LeNet-5 on MNIST.
#
#   bash scripts/train.sh [extra train options, e.g. --epochs 2]
#
# MNIST is read from ${DATA_DIR:-../shared/data} (a folder holding mnist/ with the four original
# IDX files, or those files themselves). Without them it trains on the 8x8 handwritten digits
# embedded in tinyconv instead, so the script works offline on a fresh machine.
# Results go to runs/lenet5-mnist (or runs/lenet5-digits): metrics, checkpoint, pictures.
#
# Time on the project's 2-core machine (shared with other jobs): 10-25 s per MNIST epoch
# (60,000 images), about 3 minutes for the default 10 epochs, which reach 99.3-99.4 % test
# accuracy (README, "Training"); the digits fallback takes 10-30 seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DATA="${DATA_DIR:-$ROOT/../shared/data}"

echo "== installing tinyconv from $ROOT (pip install .)"
python -m pip install --quiet .

if [ -d "$DATA/mnist" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ] || \
        [ -e "$DATA/train-images-idx3-ubyte" ]; then
    DATA="$(cd "$DATA" && pwd)"
    echo "== training LeNet-5 on MNIST from $DATA (SGD momentum 0.9, weight decay 5e-4,"
    echo "   one-cycle schedule peaking at lr 0.1, batch 64)"
    ARGS=(--model lenet5 --dataset mnist --data-dir "$DATA" --epochs 10 --batch-size 64
          --optimizer sgd --lr 0.1 --momentum 0.9 --weight-decay 5e-4 --schedule onecycle
          --out "$ROOT/runs/lenet5-mnist")
else
    echo "== no MNIST files in $DATA (set DATA_DIR to a folder holding mnist/):"
    echo "   training LeNet-5 on the 8x8 digits embedded in tinyconv instead"
    ARGS=(--model lenet5 --dataset digits --out "$ROOT/runs/lenet5-digits")
fi

# Run from outside the source tree so that the installed (compiled) package is imported.
cd "${TMPDIR:-/tmp}"
echo "== python -m tinyconv train ${ARGS[*]} --overwrite $*"
python -m tinyconv train "${ARGS[@]}" --overwrite "$@"
