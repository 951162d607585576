#!/usr/bin/env bash
# Distributed training with torchrun (OpenMMLab style):
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash tools/dist_train.sh CONFIG 8
# (tools/dist_test.sh runs this script with TOOL=test.py)
# On CPU the tools use gloo by themselves.
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# the repo's venv if there is one (tools/setup_env.sh), else $PYTHON / python
PYTHON=${PYTHON:-$([ -x "$DIR/../.venv/bin/python" ] && echo "$DIR/../.venv/bin/python" || echo python)}
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" \
"$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$DIR/${TOOL:-train.py}" "$CONFIG" "${@:3}" --launcher pytorch
