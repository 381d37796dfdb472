"""A tiny DINO training run in a real mmengine Runner (CPU, seconds): a
narrow ResNet-18, 32-px global and 16-px local crops of generated images."""
import uuid

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from tests._helpers.loaders import image_folder_loader

OUT = 16  # prototypes


def tiny_dino_runner(work_dir,
                     data_root,
                     custom_hooks=(),
                     optimizer=None,
                     max_epochs=2,
                     batch_size=2,
                     norm_last_layer=True):
    """A Runner for ``len(images) / batch_size`` iterations per epoch."""
    return Runner(
        model=dict(
            type='DINO',
            backbone=dict(
                type='ResNet', depth=18, stem_channels=16, base_channels=16),
            neck=dict(
                type='DINONeck',
                in_channels=128,
                out_channels=OUT,
                hid_channels=16,
                bottleneck_channels=8,
                norm_last_layer=norm_last_layer),
            head=dict(type='DINOHead', out_channels=OUT),
            data_preprocessor=dict(
                type='SelfSupDataPreprocessor',
                mean=[127.5] * 3,
                std=[127.5] * 3,
                to_rgb=True)),
        work_dir=str(work_dir),
        train_dataloader=image_folder_loader(data_root, [
            dict(type='LoadImageFromFile'),
            dict(
                type='MultiView',
                num_views=[2, 2],
                transforms=[[dict(type='RandomResizedCrop', scale=32)],
                            [dict(type='RandomResizedCrop', scale=16)]]),
            dict(type='PackInputs')
        ], batch_size),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(
            optimizer=optimizer
            or dict(type='Adam', lr=1e-3, weight_decay=1e-4)),
        default_hooks=dict(checkpoint=None),
        custom_hooks=list(custom_hooks),
        default_scope='mmpretrain',
        # unique: mmengine keys its global instances by this name
        experiment_name=f'tiny_dino_{uuid.uuid4().hex}',
        randomness=dict(seed=0),
        log_level='WARNING')


class RecordEachIter(Hook):
    """Calls ``record(model, runner)`` (on the unwrapped model) before
    training and after every iteration; keeps the results in ``values``,
    the first one being the state before training."""

    priority = 'LOWEST'

    def __init__(self, record):
        self.record = record
        self.values = []

    def _model(self, runner):
        return runner.model.module if is_model_wrapper(
            runner.model) else runner.model

    def before_train(self, runner):
        self.values.append(self.record(self._model(runner), runner))

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.values.append(self.record(self._model(runner), runner))
