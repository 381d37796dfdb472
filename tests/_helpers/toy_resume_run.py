"""``python -m torch.distributed.run ... toy_resume_run.py WORK BATCH
[CHECKPOINT]``: a toy run (tests/_helpers/toy_runner.py, 16 samples, 2
epochs, ExactResumeHook) under torchrun with gloo on the CPU, resumed from
CHECKPOINT when given; every rank writes the samples it trained, per epoch,
to ``WORK/samples_rank{r}.json``. Used by
tests/test_engine/test_hooks/test_exact_resume_hook.py."""
import json
import os.path as osp
import sys

from mixssl_mm.compat import apply_compat_fixes

apply_compat_fixes()  # as every entry point: --launcher pytorch on a CPU
from mmengine.dist import get_rank  # noqa: E402
from mmengine.hooks import Hook

from mixssl_mm.engine.hooks import ExactResumeHook
from tests._helpers.toy_runner import make_runner


class RecordSamplesHook(Hook):
    """Records ``floor(inputs[:, 0])`` (the sample ids) of every batch."""

    def __init__(self):
        self.seen = {}

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        ids = [int(x) for x in data_batch['inputs'][:, 0].floor().tolist()]
        self.seen.setdefault(str(runner.epoch), []).extend(ids)

    def after_train(self, runner):
        with open(
                osp.join(runner.work_dir, f'samples_rank{get_rank()}.json'),
                'w') as f:
            json.dump(self.seen, f)


def main(work, batch_size, checkpoint=None):
    launcher = 'pytorch' if 'LOCAL_RANK' in __import__('os').environ \
        else 'none'
    runner = make_runner(
        work,
        resume=checkpoint is not None,
        load_from=checkpoint,
        batch_size=int(batch_size),
        n=16,
        launcher=launcher,
        hooks=[ExactResumeHook(), RecordSamplesHook()])
    runner.train()
    from mixssl_mm.apis.teardown import finish_run
    finish_run()


if __name__ == '__main__':
    main(*sys.argv[1:])
