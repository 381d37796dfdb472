"""The config of a tiny in-process MixSSL training (a real mmengine Runner,
CPU): ResNet-18 MixSSL on a target folder with an auxiliary folder,
``RandomResizedCrop`` views. For hook tests that train a few iterations and
look at what the hook logged or drew."""
import copy
import uuid

from mmengine.config import Config

from tests._helpers.models import MIXSSL_R18

IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]


def mixssl_runner_cfg(work_dir,
                      target_dir,
                      aux_dir,
                      custom_hooks=(),
                      train_cfg=None,
                      crop=32,
                      batch_size=4,
                      model_overrides=None,
                      default_hooks=None) -> Config:
    """A Runner config; ``train_cfg`` defaults to 2 iterations, and
    ``default_hooks`` to no checkpoints. ``model_overrides`` update the
    MixSSL model dict (e.g. ``use_rec=False``)."""
    view = [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=crop)
    ]
    model = dict(copy.deepcopy(MIXSSL_R18), **(model_overrides or {}))
    model['data_preprocessor'] = dict(
        type='SelfSupDataPreprocessor',
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        to_rgb=True)
    return Config(
        dict(
            default_scope='mmpretrain',
            work_dir=str(work_dir),
            # unique per runner: the visualizer and the message hub are global
            # instances keyed by this name
            experiment_name=f'test_{uuid.uuid4().hex}',
            model=model,
            train_dataloader=dict(
                batch_size=batch_size,
                num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=True),
                collate_fn=dict(type='default_collate'),
                dataset=dict(
                    type='CustomDataset',
                    data_root=str(target_dir),
                    with_label=False,
                    pipeline=[
                        *view,
                        dict(
                            type='CrossDomainMixup',
                            aux_dataset=str(aux_dir),
                            aux_pipeline=view),
                        dict(
                            type='PackInputs',
                            algorithm_keys=['aux_label', 'aux_num_classes'])
                    ])),
            train_cfg=train_cfg or dict(by_epoch=False, max_iters=2),
            optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-3)),
            default_hooks=default_hooks or dict(checkpoint=None),
            custom_hooks=list(custom_hooks),
            visualizer=dict(
                type='UniversalVisualizer',
                vis_backends=[dict(type='LocalVisBackend')]),
            randomness=dict(seed=0),
            log_level='WARNING'))
