# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark behind ``tools/benchmark.py`` (the analysis tools are in
:mod:`mixssl_mm.analysis`).

- :mod:`.methods`: THE methods table (the throughput tool's too), groups,
  downstream configs, channel and resolution helpers;
- :mod:`.presets`: the benchmark presets;
- :mod:`.planning`: the stages and their cfg-options;
- :mod:`.runner`: the benchmark run (plan -> stage subprocesses, resume,
  parallel chains -> records);
- :mod:`.comparison`: mean ± std, every method against MixSSL with its
  paired interval; :mod:`.report`: results.md / .csv / .png;
- :mod:`.cli`: the benchmark's and the throughput tool's arguments.

Nothing here is registered: the plugin core does not import this package.
"""
