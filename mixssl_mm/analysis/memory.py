# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Peak memory of one method's training steps, for the throughput tool.

* CUDA: ``torch.cuda.max_memory_allocated`` (absolute: weights, optimizer
  state, activations), reset before each method.
* CPU: peak RSS of this process minus its RSS before the model was built
  (weights + optimizer state + activations + allocator slack); the peak is
  the kernel's ``VmHWM``, reset per method by writing ``5`` to
  ``/proc/self/clear_refs`` (Linux >= 4.0) after ``malloc_trim``. Where that
  file is not writable, the growth of ``ru_maxrss`` is reported instead (a
  lower bound). Data-loader workers are separate processes and not counted.
"""
import ctypes
import gc
import resource
from typing import Optional

import torch


def _proc_status_kb(key: str) -> Optional[int]:
    """A ``/proc/self/status`` field in kB (None where there is none)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak memory of one method's run: call ``start()`` before the model is
    built and ``stop()`` after its last step; ``kind`` says what was
    measured.

    Args:
        device: ``'cuda'`` or ``'cpu'``.
    """

    def __init__(self, device: str):
        self.device = device
        self.kind = None

    def start(self):
        gc.collect()
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.kind = 'cuda max_memory_allocated (absolute)'
            return
        try:
            ctypes.CDLL('libc.so.6').malloc_trim(0)
        except (OSError, AttributeError):
            pass
        self.base_rss = _proc_status_kb('VmRSS')
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # resets VmHWM to the current RSS
            self.kind = 'cpu peak RSS delta (VmHWM reset via clear_refs)'
        except OSError:
            self.base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.kind = 'cpu ru_maxrss growth (lower bound)'

    def stop(self) -> float:
        """Peak in MiB."""
        if self.device == 'cuda':
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        if self.kind.startswith('cpu peak RSS'):
            peak = _proc_status_kb('VmHWM')
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(0, peak - self.base_rss) / 1024
