#!/usr/bin/env bash
# GPU check (issue 21 part 5), one command, one summary at the end:
#   1. tools/benchmark.py on the device: (d) the whole POMP step at the
#      paper's per-GPU shape (ViT-B/16, 32 x 4 views, K=1000, N=21K; fp32,
#      fp16 and bf16 image towers), (e) the image tower in fp16/bf16,
#      (f) the data pipeline and the workers the measured step needs, and
#      (g) fast-vs-plain text exactness in fp16/bf16;
#   2. a short --amp pre-training run of the paper config
#      (configs/pomp/pomp_vit-b16_nctx16_ep20_in21k.py, random ViT-B/16) on
#      a generated ImageNet-21K tree (64 classes x 4 images, 2 epochs);
#   3. the summary: each part's result and the goals.
#
# Usage: bash tools/gpu_check.sh [DEVICE]      (DEVICE: a torch device of an
#        accelerator, default the first CUDA GPU; outputs and logs go to
#        $GPU_CHECK_DIR, default work_dirs/gpu_check)
# Without that device it stops at once with one line (exit 1).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
DEV=${1:-cuda:0}
DIR=${GPU_CHECK_DIR:-work_dirs/gpu_check}
CONFIG=configs/pomp/pomp_vit-b16_nctx16_ep20_in21k.py

"$PY" -c "import sys; from pomp_mm.benchmarks.speed import device_problem
p = device_problem(sys.argv[1]); p and print('gpu_check.sh: ' + p); sys.exit(1 if p else 0)" "$DEV" || exit 1
if [ -e "$DIR" ]; then
  echo "gpu_check.sh: $DIR exists; expected a fresh folder (remove it or set GPU_CHECK_DIR)"
  exit 1
fi
mkdir -p "$DIR"

echo "[1/2] benchmark on $DEV -> $DIR/bench.log"
"$PY" tools/benchmark.py --device "$DEV" --threads 0 \
  --sections e2e,image_precision,pipeline,exact --e2e-image-precision fp16,bf16 \
  --image-batch 64 --out "$DIR/bench.json" --plot "$DIR/bench.png" \
  > "$DIR/bench.log" 2>&1
BENCH_RC=$?

echo "[2/2] --amp pre-training of $CONFIG on generated data -> $DIR/train.log"
"$PY" -c "import sys; from pomp_mm.benchmarks.pipeline import write_in21k_tree
write_in21k_tree(sys.argv[1], classes=64, per_class=4, val_per_class=2)" "$DIR/data" \
  > "$DIR/train.log" 2>&1
TRAIN_RC=$?
if [ $TRAIN_RC -eq 0 ]; then
  "$PY" tools/train.py "$CONFIG" --amp --work-dir "$DIR/train" --cfg-options \
    model.prompt_learner.clip.checkpoint=None \
    model.prompt_learner.clip.allow_random=True \
    train_dataloader.dataset.data_root="$DIR/data" \
    val_dataloader.dataset.data_root="$DIR/data" \
    test_dataloader.dataset.data_root="$DIR/data" \
    train_dataloader.dataset.num_shots=4 \
    model.loss.num_classes_per_step=32 \
    train_cfg.max_epochs=2 train_cfg.val_interval=1 \
    train_dataloader.num_workers=4 val_dataloader.num_workers=2 \
    default_hooks.logger.interval=1 >> "$DIR/train.log" 2>&1
  TRAIN_RC=$?
fi

"$PY" - "$DIR" "$DEV" "$BENCH_RC" "$TRAIN_RC" <<'PYEOF'
import glob, json, os.path as osp, sys
d, dev, bench_rc, train_rc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
print(f'\n== gpu_check summary ({dev}) ==')
ok = bench_rc == 0 and train_rc == 0
if bench_rc == 0 and osp.exists(osp.join(d, 'bench.json')):
    out = json.load(open(osp.join(d, 'bench.json')))
    log = open(osp.join(d, 'bench.log')).read().splitlines()
    start = next(i for i, ln in enumerate(log) if ln.startswith('(d)'))
    print('\n'.join(ln for ln in log[start:] if not ln.startswith('{')))
    bad = [k for k, g in out['goals'].items() if g['met'] is False]
    ok = ok and not bad
    print('benchmark: ok' + (f'; goals NOT met: {", ".join(bad)}' if bad else ''))
else:
    print(f'benchmark: FAILED (exit {bench_rc}); see {d}/bench.log')
prompts = sorted(glob.glob(osp.join(d, 'train', 'prompt_*.pth')))
if train_rc == 0 and prompts:
    lines = [ln for ln in open(osp.join(d, 'train.log')) if 'loss:' in ln]
    print(f'--amp training: ok, {len(prompts)} prompt files; last log: '
          + (lines[-1].strip()[-160:] if lines else 'none'))
else:
    ok = False
    print(f'--amp training: FAILED (exit {train_rc}); see {d}/train.log')
print('gpu_check: ' + ('PASSED' if ok else 'FAILED'))
sys.exit(0 if ok else 1)
PYEOF
