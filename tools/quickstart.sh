#!/usr/bin/env bash
# The README quick start: install, fetch BloodMNIST, run a short real MixSSL
# pretraining (ResNet-18, 64 px, 50 iterations of batch 64). Extra arguments
# go to tools/train.py.
set -euo pipefail
cd "$(dirname "$0")/.."

python -c "import mixssl_mm" 2>/dev/null || python -m pip install -q -e ".[tests]"
python tools/data/fetch_bloodmnist.py
python tools/train.py configs/mixssl/mixssl_resnet18_1xb64-1e_bloodmnist-64px.py \
    --work-dir work_dirs/quickstart --overwrite "$@"

echo
echo "Done. Outputs in work_dirs/quickstart/:"
echo "  epoch_1.pth                       MixSSL checkpoint (encoder = backbone.*)"
echo "  <timestamp>/<timestamp>.log       training log"
echo "  <timestamp>/vis_data/             scalars and reconstruction grids (vis_image/*.png)"
