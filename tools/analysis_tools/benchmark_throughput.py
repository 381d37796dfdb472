# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Training-step throughput of MixSSL vs mmpretrain's SimCLR and MoCo v2.

Times ``model.train_step(data, optim_wrapper)`` of each method, built from
its config with the same encoder depth, batch size and resolution, on
synthetic batches (model + optimizer alone) and through the config's own
train dataloader (``--modes synthetic pipeline``). Reported per method and
mode: samples/s (batch / median step), step time median / min / max over
``--iters`` steps after ``--warmup`` steps, the first step and the peak
memory (CUDA: ``max_memory_allocated``; CPU: the peak-RSS growth).

Speed levers (each one a switch, the same for every method):
``--amp`` (bf16 autocast through mmengine's ``AmpOptimWrapper``; on a CPU
through the ``cpu-amp`` fix this tool applies, docs/compat.md),
``--channels-last`` (MixSSL: its ``channels_last=True``; the baselines: the
module converted with ``model.to(memory_format=torch.channels_last)``),
``--compile`` (``torch.compile`` of ``train_step`` exactly as mmengine's
``Runner`` does for ``compile=True``; a config's own ``compile`` key is
honoured too) and ``--fused`` (``optimizer.fused=True``). MixSSL's decoder
can be varied with ``--mixssl-options model.neck.ngf=32 ...``.

Also: ``--flops`` (GFLOP of one eager step), ``--repeat N`` (run the method
sequence N times and pool the steps: fairer on a shared machine),
``--threads N`` (torch threads; one is far steadier on a loaded CPU, see
docs/performance.md) and ``--loader-only`` (the dataloader alone).

Examples (from the repository root)::

    # CPU, ResNet-18 at 64 px, batch 32, both modes
    python tools/analysis_tools/benchmark_throughput.py --device cpu \\
        --depth 18 --size 64 --batch 32 --iters 10 --warmup 3 \\
        --out work_dirs/throughput/r18.json --md work_dirs/throughput/r18.md
    # GPU, the fast recipe's levers
    python tools/analysis_tools/benchmark_throughput.py --device cuda \\
        --depth 50 --size 224 --batch 256 --amp --channels-last --compile \\
        --fused --num-workers 8 --out r50_gpu.json --md r50_gpu.md

The measurement is :mod:`mixssl_mm.analysis.throughput` (memory:
:mod:`mixssl_mm.analysis.memory`; summary and table:
:mod:`mixssl_mm.analysis.throughput_report`). See docs/performance.md for
measured numbers.
"""

from mixssl_mm.analysis.throughput import main

if __name__ == '__main__':
    main()
