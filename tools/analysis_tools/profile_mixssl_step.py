# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Where MixSSL's training step spends its time: encoder, decoder, head,
optimizer, against the whole ``train_step``.

Takes ``benchmark_throughput.py``'s arguments (same config, ``--depth``,
``--batch``, ``--size``, ``--mixssl-options``, levers) and prints, for one
synthetic batch, each part's median forward + backward time, its share of
the step and its GFLOP. The code is
:mod:`mixssl_mm.analysis.step_profile`.

    python tools/analysis_tools/profile_mixssl_step.py --depth 18 --size 64 \\
        --batch 32 --iters 5 --warmup 2
"""

from mixssl_mm.analysis.step_profile import main

if __name__ == '__main__':
    main()
