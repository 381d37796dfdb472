"""mixssl_mm.preflight.component_errors (issue 22, kind 5, at every component):
a key that its component does not take is named where it is in the config,
with the closest valid key, at every place mmengine builds components and at
every entry point; before, a misspelt transform key was blamed on the
dataset (``train_dataloader.dataset (type='MedMNIST') has a key MedMNIST
does not take: 'scal'``) and other components gave Python's bare
``TypeError``."""
import pytest
from mmpretrain.registry import MODELS, TRANSFORMS

from mixssl_mm.preflight import ConfigError, build_dataset
from mixssl_mm.preflight.component_errors import explain_component_error
from tests._helpers.dist_launch import TINY_NPZ, write_tiny_medmnist
from tests._helpers.training import (CLASSIFIER_EVAL, classifier_config,
                                     mmpretrain_tool)
from tests.conftest import write_image_folder


def _error(registry, cfg: dict, kind=TypeError) -> Exception:
    with pytest.raises(kind) as info:
        registry.build(dict(cfg))
    return info.value


def test_the_key_is_found_in_the_component_the_error_names():
    crop = dict(type='RandomResizedCrop', scal=8)
    cfg = dict(
        # the same misspelt key in a component of another type
        model=dict(type='TransparencyHead', scal=8),
        train_dataloader=dict(
            dataset=dict(type='MedMNIST', pipeline=[dict(type='Pad'), crop])))
    msg = str(explain_component_error(cfg, _error(TRANSFORMS, crop)))
    assert msg.startswith(
        "train_dataloader.dataset.pipeline.1 (type='RandomResizedCrop') has "
        "a key RandomResizedCrop does not take: 'scal'. Did you mean "
        "'scale'? Rename it (train_dataloader.dataset.pipeline.1.scale).")
    assert 'The keys of RandomResizedCrop: scale, crop_ratio_range' in msg
    # a key far from every valid one: remove it
    head = dict(type='TransparencyHead', zzz=1)
    assert "Remove it (model.zzz)." in str(
        explain_component_error(dict(model=head), _error(MODELS, head)))
    # not in the config, or another error: left as it is
    assert explain_component_error(cfg, _error(MODELS, head)) is None
    assert explain_component_error(cfg, TypeError('unsupported')) is None
    text = str(_error(TRANSFORMS, crop))
    assert explain_component_error(cfg, ValueError(text)) is None


def test_an_unregistered_type_is_found_with_the_closest_names():
    head = dict(type='TransparencyHed', in_channels=8)
    cfg = dict(model=dict(type='MixSSL', head=head))
    msg = str(explain_component_error(cfg, _error(MODELS, head, KeyError)))
    assert msg.startswith(
        "model.head (type='TransparencyHed'): no model type "
        "'TransparencyHed' is registered. Did you mean 'TransparencyHead'")
    assert "custom_imports = dict(imports=['mixssl_mm']" in msg
    # a type of another registry is not mistaken for it
    assert explain_component_error(
        dict(model=dict(type='Pad')), _error(MODELS, head, KeyError)) is None


def test_the_dict_whose_class_takes_the_key_is_not_blamed(tmp_path):
    # both datasets hold 'split'; the error names their common base,
    # BaseDataset: MedMNIST takes split, CustomDataset does not
    from mixssl_mm.preflight.component_errors import init_keys
    images = write_image_folder(tmp_path / 'imgs', 2)
    with pytest.raises(ConfigError) as info:
        build_dataset(
            dict(
                type='ConcatDataset',
                datasets=[
                    dict(
                        type='MedMNIST',
                        data_root=str(tmp_path),
                        ann_file='none.npz',
                        split='train',
                        lazy_init=True),
                    dict(
                        type='CustomDataset',
                        data_root=images,
                        split='val',
                        lazy_init=True)
                ]), 'train_dataloader.dataset')
    assert str(info.value).startswith(
        "train_dataloader.dataset.datasets.1 (type='CustomDataset') has a "
        "key CustomDataset does not take: 'split'.")
    # a base's keys count only where __init__ passes **kwargs on
    import torch
    assert 'defaults' not in init_keys(torch.optim.SGD)
    assert 'serialize_data' in init_keys(
        _registered('DATASETS', 'CustomDataset'))


def _registered(registry, name):
    import mmpretrain.registry as reg
    return getattr(reg, registry).get(name)


def test_python_3_9s_message_without_the_class_is_placed():
    crop = dict(type='RandomResizedCrop', scal=8)
    cfg = dict(train_dataloader=dict(dataset=dict(pipeline=[crop])))
    error = TypeError("__init__() got an unexpected keyword argument 'scal'")
    assert "Did you mean 'scale'" in str(explain_component_error(cfg, error))


@pytest.mark.parametrize(
    'registry, part, expected',
    [('PARAM_SCHEDULERS', dict(type='CosineAnealingLR'),
      "param_scheduler.0 (type='CosineAnealingLR'): no parameter scheduler "
      "type 'CosineAnealingLR' is registered. Did you mean "
      "'CosineAnnealingLR'"),
     ('DATA_SAMPLERS', dict(type='DefualtSampler'),
      "train_dataloader.sampler (type='DefualtSampler'): no data sampler "
      "type 'DefualtSampler' is registered. Did you mean 'DefaultSampler'")])
def test_registries_with_spaces_in_their_names(registry, part, expected):
    import mmpretrain.registry as reg
    cfg = dict(
        param_scheduler=[part] if registry == 'PARAM_SCHEDULERS' else [],
        train_dataloader=dict(sampler=part))
    error = _error(getattr(reg, registry), part, KeyError)
    assert str(explain_component_error(cfg, error)).startswith(expected)


def test_a_misspelt_transform_key_is_not_blamed_on_the_dataset(tmp_path):
    root = write_tiny_medmnist(tmp_path / 'npz', n=(8, 8, 8))
    with pytest.raises(ConfigError) as info:
        build_dataset(
            dict(
                type='MedMNIST',
                data_root=root,
                ann_file=TINY_NPZ,
                split='train',
                pipeline=[
                    dict(type='RandomResizedCrop', scal=8),
                    dict(type='PackInputs')
                ]), 'train_dataloader.dataset')
    msg = str(info.value)
    assert ("train_dataloader.dataset.pipeline.0 (type='RandomResizedCrop') "
            "has a key RandomResizedCrop does not take: 'scal'. Did you mean "
            "'scale'?") in msg
    assert 'MedMNIST' not in msg


@pytest.mark.parametrize(
    'change, expected',
    [
        # the model and its parts (built with the Runner)
        (['model.head.in_chanels=128'
          ], "model.head (type='TransparencyHead') has a key TransparencyHead "
         "does not take: 'in_chanels'. Did you mean 'in_channels'?"),
        (['model.lam_mod=batch'], "model (type='MixSSL') has a key MixSSL "
         "does not take: 'lam_mod'. Did you mean 'lam_mode'?"),
        (['model.head.type=TransparencyHed'
          ], "model.head (type='TransparencyHed'): no model type "
         "'TransparencyHed' is registered. Did you mean 'TransparencyHead'"),
        # the encoder (built by the pre-flight's channel probe)
        (['model.backbone.dept=18'], "model.backbone (type='ResNet') has a "
         "key ResNet does not take: 'dept'. Did you mean 'depth'?"),
        (['model.backbone.type=ResNett'
          ], "model.backbone (type='ResNett'): no model type 'ResNett' is "
         "registered. Did you mean 'ResNet'"),
        # a transform (built with the dataset, in the pre-flight)
        (dict(view="[dict(type='LoadImageFromFile'), dict(type='Resise', "
              'scale=(32, 32))]'),
         "train_dataloader.dataset.pipeline.1 (type='Resise'): no transform "
         "type 'Resise' is registered. Did you mean 'Resize'"),
        # a hook (registered with the Runner)
        (dict(custom_hooks="[dict(type='EmptyCacheHook', after_epochs=True)]"),
         "custom_hooks.0 (type='EmptyCacheHook') has a key EmptyCacheHook "
         "does not take: 'after_epochs'. Did you mean 'after_epoch'?"),
        (dict(custom_hooks="[dict(type='EmptyCacheHok')]"),
         "custom_hooks.0 (type='EmptyCacheHok'): no hook type "
         "'EmptyCacheHok' is registered. Did you mean 'EmptyCacheHook'"),
        # the optimizer (built by runner.train(); mmengine's own error for
        # an unknown type is "None is not a callable object")
        (dict(optimizer="dict(type='Adam', lr=1e-4, weight_decays=0.0)"),
         "optim_wrapper.optimizer (type='Adam') has a key Adam does not "
         "take: 'weight_decays'. Did you mean 'weight_decay'?"),
        (dict(optimizer="dict(type='Adamm', lr=1e-4)"),
         "optim_wrapper.optimizer (type='Adamm'): no optimizer type 'Adamm' "
         "is registered. Did you mean 'Adam'"),
    ])
def test_train_names_a_bad_key_or_type_of_any_component(
        tmp_path, train_in_process, change, expected):
    root = write_image_folder(tmp_path / 'target', 4, seed=1)
    aux = write_image_folder(tmp_path / 'aux', 3, classes=('x', ), seed=2)
    options = change if isinstance(change, dict) else {}
    cfg = train_in_process.config((root, aux), **options)
    extra = [] if options else ['--cfg-options', *change]
    work = tmp_path / 'work'
    with pytest.raises(ConfigError) as info:
        train_in_process(cfg, work, *extra)
    assert expected in str(info.value)
    assert not work.exists()  # nothing written: no checkpoint, no log


def test_test_py_names_a_misspelt_metric_key(tmp_path, train_in_process):
    from tests._helpers.dist_launch import write_backbone_checkpoint
    root = write_image_folder(tmp_path / 'target', 4, seed=1)
    ckpt = write_backbone_checkpoint(tmp_path / 'pretrain.pth')
    cfg = train_in_process.write(
        classifier_config(
            root,
            ckpt,
            extra=CLASSIFIER_EVAL.replace("topk=(1, )",
                                          "topk=(1, ), prefx='x'")))
    work = tmp_path / 'work'
    with pytest.raises(
            ConfigError,
            match=r"test_evaluator\.0 \(type='Accuracy'\) has a key Accuracy "
            r"does not take: 'prefx'\. Did you mean 'prefix'\?"):
        # (a backbone checkpoint: no head, which the test would refuse)
        train_in_process.test(cfg, ckpt, work, '--cfg-options',
                              'strict_pretrained=False')
    assert not work.exists()


def test_mmpretrain_train_py_names_a_misspelt_model_key(tmp_path):
    """Through the opt-in for mmpretrain's own tools, whose Runner builds
    the model."""
    from tests._helpers.training import mixssl_config
    root = write_image_folder(tmp_path / 'target', 4, seed=1)
    aux = write_image_folder(tmp_path / 'aux', 3, classes=('x', ), seed=2)
    cfg = tmp_path / 'mixssl.py'
    cfg.write_text(mixssl_config(root, aux))
    out = mmpretrain_tool(
        'train',
        str(cfg),
        '--work-dir',
        str(tmp_path / 'work'),
        '--cfg-options',
        'model.head.in_chanels=128',
        cwd=tmp_path)
    assert out.returncode != 0
    assert ("model.head (type='TransparencyHead') has a key TransparencyHead "
            "does not take: 'in_chanels'. Did you mean 'in_channels'?"
            ) in out.stderr, out.stderr[-3000:]
