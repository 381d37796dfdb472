# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Draw a trained MixSSL checkpoint's pretext task (target / photo / mix /
reconstruction, λ and λ̂ per row): ``python tools/visualization/vis_mixssl.py
CONFIG CHECKPOINT --out grid.png``; see ``-h`` and docs/visualization.md."""
from mixssl_mm.visualization.checkpoint_grid import main

if __name__ == '__main__':
    main()
