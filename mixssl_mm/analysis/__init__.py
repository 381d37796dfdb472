# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Analysis tools behind ``tools/analysis_tools/``: they measure the method
and the stack, they are not the benchmark (:mod:`mixssl_mm.benchmark`).

- :mod:`.throughput`, :mod:`.memory`, :mod:`.throughput_report`: the
  training-step timing, peak memory, its table and JSON;
- :mod:`.step_profile`: MixSSL's step split by part;
- :mod:`.acceptance`, :mod:`.acceptance_configs`,
  :mod:`.acceptance_report`: the GPU acceptance run, its part (a) and its
  report;
- :mod:`.residual_norms`, :mod:`.lambda_shortcut`: the λ studies of
  docs/benchmark.md and configs/mixssl/README.md.

Nothing here is registered: the plugin core does not import this package.
"""
