"""mixssl_mm.apis.teardown: a completed run ends its persistent data-loader
workers and its process group (the 2-process runs that exercise it through
the launchers: tests/test_distributed/test_clean_exit.py)."""
import multiprocessing

import torch
import torch.distributed as dist

from mixssl_mm.apis.teardown import (end_dataloader_workers, end_process_group,
                                     finish_run)


def test_finish_run_ends_persistent_workers_and_the_process_group(tmp_path):
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/pg', rank=0, world_size=1)
    loader = torch.utils.data.DataLoader(
        torch.arange(8.), batch_size=2, num_workers=2, persistent_workers=True)
    assert len(list(loader)) == 4
    assert len(multiprocessing.active_children()) == 2  # kept alive
    finish_run()
    assert multiprocessing.active_children() == []
    assert not dist.is_initialized()
    # nothing left to do: both steps are safe to repeat
    assert end_dataloader_workers() == 0
    assert end_process_group() is False
    # the loader still works afterwards (new workers)
    assert len(list(loader)) == 4
    assert end_dataloader_workers() == 1
