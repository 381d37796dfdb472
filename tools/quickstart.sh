#!/usr/bin/env bash
# The README quick start, from a checkout to a tested fine-tuned model:
#   1. install (unless mixssl_mm imports already; into the active virtual
#      environment or ./.venv, never a global interpreter) and fetch BloodMNIST;
#   2. pretrain MixSSL: ResNet-18, 64 px, 50 iterations of batch 64
#      (configs/mixssl/mixssl_resnet18_1xb64-1e_bloodmnist-64px.py);
#   3. fine-tune that encoder on the paper's 4-class task for one epoch
#      (configs/mixssl/benchmarks/resnet18_1xb64-1e_bloodmnist-4cls-64px_finetune.py);
#   4. test the fine-tuned model on the official 4-class test split.
# Extra arguments go to the pretraining's tools/train.py (e.g. --cfg-options
# ...); FINETUNE_ARGS and TEST_ARGS (split into words) go to the fine-tuning
# and to tools/test.py. Outputs go under WORK_DIRS (default: work_dirs).
set -euo pipefail
cd "$(dirname "$0")/.."

PRETRAIN_CFG=configs/mixssl/mixssl_resnet18_1xb64-1e_bloodmnist-64px.py
FINETUNE_CFG=configs/mixssl/benchmarks/resnet18_1xb64-1e_bloodmnist-4cls-64px_finetune.py
WORK_DIRS=${WORK_DIRS:-work_dirs}
PRETRAIN_DIR=$WORK_DIRS/quickstart
FINETUNE_DIR=$WORK_DIRS/quickstart_finetune
METRICS=$FINETUNE_DIR/test_metrics.json

# the newest run folder (<work dir>/YYYYMMDD_HHMMSS/) mmengine made in $1
last_run() {
    find "$1" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*_[0-9]*' | sort | tail -n 1
}

# install (docs/install.md) only when mixssl_mm is not importable, and never
# into a global interpreter: into the active virtual environment, else into
# ./.venv (created if missing), which the rest of this script then uses
in_venv() {
    python -c 'import os, sys; sys.exit(not (sys.prefix != sys.base_prefix or os.environ.get("CONDA_DEFAULT_ENV", "base") != "base"))'
}
if ! python -c "import mixssl_mm" 2>/dev/null; then
    if ! in_venv; then
        if [ ! -x .venv/bin/python ]; then
            echo "== no virtual environment is active: creating one in .venv (python -m venv .venv)"
            python -m venv .venv
        fi
        echo "== using the virtual environment .venv (source .venv/bin/activate to use it afterwards)"
        # shellcheck disable=SC1091
        source .venv/bin/activate
    fi
    if ! python -c "import mixssl_mm" 2>/dev/null; then
        if ! python -c "import torch" 2>/dev/null; then
            if command -v nvidia-smi >/dev/null; then
                echo "== installing torch and torchvision into ${VIRTUAL_ENV:-}${CONDA_PREFIX:-} (pip install torch torchvision)"
                python -m pip install -q torch torchvision
            else
                echo "== no GPU found: installing the CPU-only torch into ${VIRTUAL_ENV:-}${CONDA_PREFIX:-} (pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu)"
                python -m pip install -q torch torchvision --index-url https://download.pytorch.org/whl/cpu
            fi
        fi
        echo "== installing mixssl_mm into ${VIRTUAL_ENV:-}${CONDA_PREFIX:-} (pip install -e \".[mmcv-lite,tests]\")"
        python -m pip install -q -e ".[mmcv-lite,tests]"
    fi
fi
# installed but broken (e.g. torch and torchvision of different builds):
# say so here, not in a traceback of the first tool
if ! err=$(python -c "import mixssl_mm" 2>&1); then
    echo "== mixssl_mm does not import with $(command -v python):" >&2
    echo "$err" | tail -n 1 >&2
    echo "   See docs/install.md ('operator torchvision::nms does not exist': torch and torchvision from different builds; install a matched pair)." >&2
    exit 1
fi
python tools/data/fetch_bloodmnist.py

echo "== 1/3 pretraining MixSSL (ResNet-18, 64 px, 50 iterations, seed 0)" \
    "in $PRETRAIN_DIR: about 4 min on 2 cores, a line every 5" \
    "iterations; next: fine-tuning (100 iterations) and testing"
python tools/train.py "$PRETRAIN_CFG" --work-dir "$PRETRAIN_DIR" --overwrite "$@"
PRETRAINED=$(cat "$PRETRAIN_DIR/last_checkpoint")
PRETRAIN_RUN=$(last_run "$PRETRAIN_DIR")

echo "== 2/3 fine-tuning $PRETRAINED on the 4-class task (100 iterations)" \
    "in $FINETUNE_DIR: about 2 min on 2 cores, a line every 10" \
    "iterations; next: testing"
# shellcheck disable=SC2086  # FINETUNE_ARGS are words on purpose
python tools/train.py "$FINETUNE_CFG" --work-dir "$FINETUNE_DIR" --overwrite \
    --cfg-options model.backbone.init_cfg.checkpoint="$PRETRAINED" ${FINETUNE_ARGS:-}
FINETUNED=$(cat "$FINETUNE_DIR/last_checkpoint")

echo "== 3/3 testing $FINETUNED on the 4-class test split (1,817 images):" \
    "under a minute, a line every 10 batches"
# shellcheck disable=SC2086
python tools/test.py "$FINETUNE_CFG" "$FINETUNED" --work-dir "$FINETUNE_DIR" \
    --out "$METRICS" --out-item metrics ${TEST_ARGS:-}
TOP1=$(python -c "import json, sys; print(f\"{json.load(open(sys.argv[1]))['accuracy/top1']:.2f}\")" "$METRICS")

echo
echo "Done. Fine-tuned ResNet-18: test top-1 $TOP1 % (4 classes). Outputs:"
echo "  $PRETRAINED    MixSSL checkpoint (encoder = backbone.*)"
echo "  $PRETRAIN_RUN/$(basename "$PRETRAIN_RUN").log    pretraining log"
echo "  $PRETRAIN_RUN/vis_data/vis_image/    reconstruction grids"
echo "  $FINETUNED    fine-tuned classifier"
echo "  $METRICS    test metrics"
