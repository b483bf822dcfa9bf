#!/usr/bin/env bash
# Install tinyconv and train LeNet-5 on MNIST (data from ../shared/data or $DATA_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet .
cd /tmp
python -m tinyconv train --model lenet5 --dataset mnist \
    --data-dir "${DATA_DIR:-$OLDPWD/../shared/data/mnist}" "$@"
