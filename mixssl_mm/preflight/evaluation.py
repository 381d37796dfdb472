# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Pre-flight checks of the evaluation parts of a config against what the
model and the tool can run (nothing is built or written).

mmengine's validation and test loops call ``model.val_step`` /
``test_step``, which run ``forward(mode='predict')``. A self-supervised
algorithm (mmpretrain's ``BaseSelfSupervisor``: MixSSL, SimCLR, MoCo, BYOL,
DINO, ...) has no predict mode: with ``val_dataloader``/``val_evaluator``/
``val_cfg`` in its config a run trains a whole epoch, saves ``epoch_1.pth``
and only then dies with ``RuntimeError: Invalid mode "predict"``. Those parts
are refused here, naming the keys to remove and the evaluation that does work
during pretraining (``KNNEvalHook``, docs/online_eval.md).
"""
import sys
from typing import List, Optional

from .config import config_name as _name
from .error import ConfigError
from .work_dir import _rank

__all__ = [
    'VAL_KEYS', 'TEST_KEYS', 'model_class', 'can_predict',
    'check_evaluation_parts'
]

VAL_KEYS = ('val_dataloader', 'val_evaluator', 'val_cfg')
TEST_KEYS = ('test_dataloader', 'test_evaluator', 'test_cfg')
ONLINE_EVAL = (
    'To evaluate the encoder while it pretrains, add KNNEvalHook to '
    'custom_hooks (weighted k-NN top-1 of its features on a labelled set; '
    'docs/online_eval.md). To evaluate it on a task, fine-tune or '
    'linear-probe the checkpoint (configs/mixssl/benchmarks/) and test '
    'that model.')


def model_class(model_cfg, default_scope: Optional[str] = 'mmpretrain'):
    """The class ``model_cfg`` builds, looked up as the Runner looks it up
    (in ``default_scope``); a test-time-augmentation wrapper is looked
    through to its ``module``. None when it cannot be resolved (the Runner
    then reports it)."""
    if not isinstance(model_cfg, dict):
        return None
    kind = model_cfg.get('type')
    if isinstance(kind, str):
        from mmengine.registry import MODELS
        try:
            with MODELS.switch_scope_and_registry(default_scope) as registry:
                kind = registry.get(kind)
        except Exception:  # noqa: B902  an unknown scope or name
            return None
    if not isinstance(kind, type):
        return None
    from mmengine.model import BaseTTAModel
    if issubclass(kind, BaseTTAModel) and 'module' in model_cfg:
        return model_class(model_cfg['module'], default_scope)
    return kind


def can_predict(cls) -> bool:
    """Whether mmengine's validation/test loops can run a model of ``cls``:
    it has a ``predict`` method (mmpretrain's classifiers, retrievers, ...)
    or its own ``val_step``/``test_step``."""
    from mmengine.model import BaseModel
    return (hasattr(cls, 'predict') or cls.val_step is not BaseModel.val_step
            or cls.test_step is not BaseModel.test_step)


def _set(cfg, keys) -> List[str]:
    return [k for k in keys if cfg.get(k) is not None]


def _what(cls) -> str:
    from mmpretrain.models import BaseSelfSupervisor
    if issubclass(cls, BaseSelfSupervisor):
        return (f'{cls.__name__} is a self-supervised pretraining algorithm '
                '(BaseSelfSupervisor)')
    return f'{cls.__name__} is a model'


def check_evaluation_parts(cfg, tool: str = 'train') -> None:
    """Refuse evaluation parts the run cannot honour, before any work:

    - a model without a predict mode (:func:`can_predict`) given
      ``val_*`` or ``test_*`` parts (``tool='train'``), or tested at all
      (``tool='test'``);
    - ``tools/test.py`` on a config without all of ``test_dataloader``,
      ``test_evaluator``, ``test_cfg``.

    Resolve ``default_hooks.checkpoint.save_best`` in a training run
    without validation: it is turned off, with a note (it could never pick a
    checkpoint; mmengine would silently save no ``best_*.pth``).

    Raises:
        ConfigError: naming the keys to remove or add, and what works.
    """
    cls = model_class(cfg.get('model'), cfg.get('default_scope', 'mmpretrain'))
    val, test = _set(cfg, VAL_KEYS), _set(cfg, TEST_KEYS)
    if cls is not None and not can_predict(cls):
        if tool == 'test':
            raise ConfigError(
                f'tools/test.py tests a model that predicts (e.g. an '
                f'ImageClassifier), but {_what(cls)} with no predict mode '
                f'(model.type={cfg.model.type!r} in {_name(cfg)}); the test '
                'would fail with RuntimeError: Invalid mode "predict". ' +
                ONLINE_EVAL)
        if val or test:
            keys = ', '.join(val + test)
            when = ('after its first validation, once a whole epoch is '
                    'trained' if val else 'when tools/test.py runs it')
            raise ConfigError(
                f'{_name(cfg)}: {_what(cls)} with no predict mode, so it '
                f'cannot honour {keys}: mmengine would fail {when} '
                '(RuntimeError: Invalid mode "predict"). Remove '
                f'{keys} from the config' +
                (' (or pass --no-validate, which drops the val_* parts)'
                 if val and not test else '') + '. ' + ONLINE_EVAL)
    if tool == 'test':
        missing = [k for k in TEST_KEYS if k not in test]
        if missing:
            raise ConfigError(
                f'tools/test.py needs test_dataloader, test_evaluator and '
                f'test_cfg; {_name(cfg)} lacks {", ".join(missing)}. Add '
                'them (e.g. test_dataloader = val_dataloader, test_evaluator '
                "= dict(type='Accuracy', topk=(1, )), test_cfg = dict()), or "
                'test with the fine-tune config the checkpoint was trained '
                'with.')
        return
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    save_best = checkpoint.get('save_best')
    if save_best is not None and len(val) < len(VAL_KEYS):
        # lossless: without validation it could never pick a checkpoint
        checkpoint['save_best'] = None
        if _rank() == 0:
            print(
                f'tools/train.py: no validation in this run, so '
                f'default_hooks.checkpoint.save_best={save_best!r} is '
                'turned off (no best_*.pth); the regular checkpoints are '
                'saved as configured.',
                file=sys.stderr)
