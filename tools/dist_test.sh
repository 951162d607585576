#!/usr/bin/env bash
# Distributed testing with torchrun (OpenMMLab style):
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash tools/dist_test.sh CONFIG CKPT 8
# On CPU the tools use gloo by themselves.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOL=test.py exec bash "$DIR/dist_train.sh" "$CONFIG" "$GPUS" "$CHECKPOINT" "${@:4}"
