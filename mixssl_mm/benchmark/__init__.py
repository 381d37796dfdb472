# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark and the throughput tool behind ``tools/benchmark.py`` and
``tools/analysis_tools/benchmark_throughput.py``.

- :mod:`.methods`: THE methods table (shared by both tools), groups,
  downstream configs, channel and resolution helpers;
- :mod:`.presets`: the benchmark presets;
- :mod:`.planning`: the stages and their cfg-options;
- :mod:`.scheduler`: the stage subprocesses, resume, parallel chains;
- :mod:`.orchestration`: the benchmark run (plan -> stages -> records);
- :mod:`.stats`, :mod:`.report`: mean ± std; results.md / .csv / .png;
- :mod:`.throughput`, :mod:`.memory`, :mod:`.throughput_report`: the
  training-step timing; :mod:`.step_profile`: MixSSL's step by part;
- :mod:`.cli`: both tools' arguments.

Nothing here is registered: the plugin core does not import this package.
"""
