#!/usr/bin/env bash
# Create (or update) .venv/ in the repo root with the pinned pomp_mm stack.
#
#   bash tools/setup_env.sh            # idempotent: a second run takes seconds
#   POMP_PYTHON=python3.11 bash tools/setup_env.sh
#
# What it does (docs/install.md explains each step):
#   1. torch 2.13.0 (CPU) and setuptools<82 first: mmcv's setup.py imports both.
#   2. every package of requirements/lock.txt, mmcv built from source with its CPU
#      ops and --no-build-isolation (otherwise pip silently builds mmcv without ops).
#   3. pomp_mm itself, editable.
#   4. a .pth hook that repairs torchvision's CUDA-only ops for every interpreter.
#   5. a check that `import mmcv.ops` works; the script fails loudly if not.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${POMP_PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
LOCK="$ROOT/requirements/lock.txt"
CONS="$ROOT/requirements/constraints.txt"
STAMP="$VENV/.pomp_mm_setup_stamp"
hash_inputs() {
  cat "$LOCK" "$CONS" "$ROOT/setup.py" "$ROOT/pomp_mm_tvfix.py" "$ROOT/tools/setup_env.sh" | sha256sum | cut -d' ' -f1
}
check() {
  "$VENV/bin/python" - <<'PY'
import mmcv.ops, torchvision, mmdet.models, open_clip, pomp_mm  # noqa: F401
assert hasattr(mmcv.ops, 'nms'), 'mmcv was built without its compiled ops'
PY
}
# Optional, never fatal: Debian's chromium + chromedriver for the browser test
# of tests/test_web_demo.py (it skips, saying why, without them).
browser() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "[setup] browser test: chromium and chromedriver found"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -qq chromium chromium-driver; } >/dev/null 2>&1; then
      echo "[setup] browser test: installed chromium chromium-driver (apt-get)"
    else
      echo "[setup] browser test: apt-get install chromium chromium-driver failed; its test will skip"
    fi
  else
    echo "[setup] browser test: no chromium/chromedriver (as root: apt-get install chromium chromium-driver); its test will skip"
  fi
}
browser || true
WANT="$(hash_inputs)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && check 2>/dev/null; then
  echo "[setup] .venv is up to date ($VENV)"
  exit 0
fi
echo "[setup] building $VENV (a fresh machine compiles mmcv's CPU ops: ~6 min on 2 cores)"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
"${PIP[@]}" -c "$CONS" "torch==2.13.0" "setuptools>=77.0.3,<82" wheel
MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" CFLAGS="-g0" \
  "${PIP[@]}" --no-build-isolation -c "$CONS" -r "$LOCK"
"${PIP[@]}" --no-build-isolation --no-deps -e "$ROOT"
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "import pomp_mm_tvfix; pomp_mm_tvfix.install_import_hook()" > "$SITE/zz_pomp_mm_tvfix.pth"
if ! check; then
  echo "[setup] ERROR: the venv does not import mmcv.ops/mmdet/open_clip/pomp_mm (see above)." >&2
  echo "[setup] A cached mmcv wheel without ops is the usual cause: pip cache remove mmcv; rerun." >&2
  exit 1
fi
"$VENV/bin/python" -m pip check >/dev/null || { "$VENV/bin/python" -m pip check; exit 1; }
echo "$WANT" > "$STAMP"
echo "[setup] ready: $VENV"
