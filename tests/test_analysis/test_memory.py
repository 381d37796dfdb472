"""mixssl_mm.analysis.memory on CPU: a tensor kept between start() and
stop() shows in the peak."""
import torch

from mixssl_mm.analysis.memory import PeakMemory


def test_cpu_peak_counts_what_was_allocated():
    mem = PeakMemory('cpu')
    mem.start()
    assert mem.kind.startswith('cpu')
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    peak = mem.stop()
    assert block.sum() > 0
    assert peak >= 60
