# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The benchmark behind ``tools/benchmark.py``, in three steps
(docs/architecture.md, "Benchmark"):

- :mod:`.planning`: the arguments -> the stage list (commands, inputs,
  outputs), with :mod:`.stage_configs`, :mod:`.methods`, :mod:`.presets`,
  :mod:`.data`, :mod:`.config_fit`, :mod:`.recipe`;
- :mod:`.runner`: runs the stages (resume, parallel chains, records);
- :mod:`.report`: results.md / .csv / .png, deltas.csv, with the paired
  intervals of :mod:`.comparison`.

Nothing here is registered: the plugin core does not import this package.
"""
