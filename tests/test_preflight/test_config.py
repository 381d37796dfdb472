"""mixssl_mm.preflight.config: a config that uses plugin components must
import the plugin through custom_imports."""
import re

import pytest
from mmengine.config import Config

from mixssl_mm.preflight import IMPORT_LINE, ConfigError, check_custom_imports
from mixssl_mm.preflight.config import (check_randomness, config_dicts,
                                        plugin_component_names)


def test_plugin_components_and_nested_dicts():
    names = plugin_component_names()
    assert {'MixSSL', 'CrossDomainMixup', 'MedMNIST'} <= names
    assert 'ResNet' not in names  # mmpretrain's own
    found = dict(
        config_dicts({
            'model': {
                'backbone': {
                    'type': 'ResNet'
                }
            },
            'hooks': [{
                'type': 'X'
            }]
        }))
    assert found['model.backbone'] == {'type': 'ResNet'}
    assert found['hooks.0'] == {'type': 'X'}  # as --cfg-options names it


@pytest.mark.parametrize('imports,refused', [
    (None, True),
    ([], True),
    (['mixssl_mm'], False),
    ('mixssl_mm', False),
    (['mixssl_mm.models'], False),
])
def test_custom_imports_decide(imports, refused):
    cfg = dict(model=dict(type='MixSSL'))
    if imports is not None:
        cfg['custom_imports'] = dict(imports=imports)
    cfg = Config(cfg)
    if refused:
        with pytest.raises(ConfigError, match=re.escape(IMPORT_LINE)):
            check_custom_imports(cfg)
    else:
        check_custom_imports(cfg)
    # a config of mmpretrain components only needs nothing
    check_custom_imports(Config(dict(model=dict(type='ResNet'))))


def test_config_without_custom_imports_is_refused_by_train(
        tmp_path, image_folders, train_in_process):
    cfg = train_in_process.config(image_folders)
    text = open(cfg).read()
    text = text[:text.index('custom_imports')] + text[text.
                                                      index('model = dict('):]
    with open(cfg, 'w') as f:
        f.write(text)
    work = tmp_path / 'work'
    with pytest.raises(ConfigError, match=re.escape(IMPORT_LINE)):
        train_in_process(cfg, work)
    assert not work.exists()


@pytest.mark.parametrize('seed', ['abc', -1, 2**32, 1.5, True])
def test_a_seed_numpy_cannot_take_is_refused(seed):
    # 'abc' gave numpy's raw "Cannot cast scalar from dtype('<U3')" once the
    # Runner had started
    with pytest.raises(
            ConfigError, match=r'randomness\.seed=.*: give a whole'):
        check_randomness(Config(dict(randomness=dict(seed=seed))))


@pytest.mark.parametrize('seed', [None, 0, 2**32 - 1])
def test_seeds_numpy_takes_pass(seed):
    check_randomness(Config(dict(randomness=dict(seed=seed))))
    check_randomness(Config(dict()))


def test_a_bad_seed_is_refused_by_train(tmp_path, image_folders,
                                        train_in_process):
    cfg = train_in_process.config(image_folders)
    work = tmp_path / 'work'
    with pytest.raises(ConfigError, match=r"randomness\.seed='abc'"):
        train_in_process(cfg, work, '--cfg-options', 'randomness.seed=abc')
    assert not work.exists()
