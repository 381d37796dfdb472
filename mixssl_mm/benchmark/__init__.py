# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark behind ``tools/benchmark.py`` (the analysis tools are in
:mod:`mixssl_mm.analysis`).

- :mod:`.methods`: THE methods table (the throughput tool's too), groups,
  downstream configs, channel and resolution helpers;
- :mod:`.presets`: the benchmark presets;
- :mod:`.planning`: the stages and their cfg-options;
- :mod:`.scheduler`: the stage subprocesses, resume, parallel chains;
- :mod:`.orchestration`: the benchmark run (plan -> stages -> records);
- :mod:`.stats`, :mod:`.report`: mean ± std; results.md / .csv / .png;
- :mod:`.cli`: the benchmark's and the throughput tool's arguments.

Nothing here is registered: the plugin core does not import this package.
"""
