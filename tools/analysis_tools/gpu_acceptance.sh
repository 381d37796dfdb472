#!/usr/bin/env bash
# The GPU acceptance run as ONE call on a lent GPU machine (docs/distributed.md).
#
# That machine has torch/torchvision/numpy/opencv but no mmengine, mmcv or
# mmpretrain, and no package index: the pure-Python wheels travel in .whl/
# (git-ignored) and the data as data/medmnist/bloodmnist.npz.
#
#   bash tools/analysis_tools/gpu_acceptance.sh --fetch-wheels   # here, once:
#                                                  # fill .whl/ (needs an index)
#   bash tools/analysis_tools/gpu_acceptance.sh [gpu_acceptance.py args]
#                                                  # there: install, check, run
#
# The report and the small files of every part (*.md, *.json, *.jsonl, *.log)
# are copied to $OUT/acceptance when $OUT is set (the device tool's output
# folder); checkpoints stay in work_dirs/acceptance.
set -uo pipefail
cd "$(dirname "$0")/../.."

WHEELS="mmengine==0.10.7 mmcv-lite==2.2.0 mmpretrain==1.2.0 addict==2.4.0
yapf==0.43.0 termcolor==3.3.0 mat4py==0.6.0 modelindex==0.0.2
model-index==0.1.11 ordered-set==4.1.0 setuptools==80.9.0 platformdirs==4.14.8
importlib-metadata==8.7.0 zipp==3.23.0"

if [ "${1:-}" = "--fetch-wheels" ]; then
  mkdir -p .whl
  for p in $WHEELS; do
    python3 -m pip download -q --no-deps --only-binary=:all: \
      --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform any -d .whl "$p" || exit 1
  done
  ls -l .whl
  exit 0
fi

if python3 -c 'import mmengine, mmcv, mmpretrain' 2>/dev/null; then
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "mmengine/mmcv/mmpretrain are missing and no wheels were carried in" \
         ".whl/: run this script with --fetch-wheels where an index is" \
         "reachable, then carry .whl (docs/distributed.md)" >&2
    exit 2
  fi
  SITE=${SITE:-/tmp/site}
  python3 -m pip install -q --no-index --no-deps --no-compile \
    --target "$SITE" .whl/*.whl || exit 2
  export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ ! -f data/medmnist/bloodmnist.npz ]; then
  echo "data/medmnist/bloodmnist.npz is missing: carry it (35 MB)" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
  2>/dev/null || true

ACC=work_dirs/acceptance
python3 tools/analysis_tools/gpu_acceptance.py --out "$ACC" "$@"
rc=$?
if [ -n "${OUT:-}" ] && [ -d "$ACC" ]; then
  mkdir -p "$OUT/acceptance"
  (cd "$ACC" && find . -type f \( -name '*.md' -o -name '*.json' \
      -o -name '*.jsonl' -o -name '*.log' -o -name '*.csv' \) -size -4M \
      -exec cp --parents {} "$OUT/acceptance/" \;)
fi
cat "$ACC/report.md" 2>/dev/null
exit $rc
