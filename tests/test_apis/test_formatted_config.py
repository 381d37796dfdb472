"""FormattedOnceConfig: the config text of mmengine's Config, formatted by
yapf once per distinct text; what tools/train.py and tools/test.py read."""
import copy
import os.path as osp
import pickle

from mmengine.config import Config

from mixssl_mm.apis import formatted_config
from mixssl_mm.apis.formatted_config import FormattedOnceConfig, formatted_once

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO,
                  'configs/mixssl/mixssl_resnet50_1xb64-20e_bloodmnist.py')


def test_text_is_mmengines_and_formatted_once_per_text(monkeypatch):
    monkeypatch.setattr(formatted_config, '_FORMATTED', {})
    stock = Config.fromfile(CONFIG)
    cfg = formatted_once(Config.fromfile(CONFIG))
    assert type(cfg) is FormattedOnceConfig
    assert cfg.pretty_text == stock.pretty_text
    assert cfg.dump() == stock.dump()
    # the Runner's deep copy keeps the class and reuses the text
    runner_copy = copy.deepcopy(cfg)
    assert type(runner_copy) is FormattedOnceConfig
    assert runner_copy.pretty_text == stock.pretty_text
    assert len(formatted_config._FORMATTED) == 1
    # a changed config is a new text, formatted anew
    cfg.model.alpha = 0.5
    stock.model.alpha = 0.5
    assert cfg.pretty_text == stock.pretty_text
    assert 'alpha=0.5' in cfg.pretty_text
    assert len(formatted_config._FORMATTED) == 2
    assert type(pickle.loads(pickle.dumps(cfg))) is FormattedOnceConfig


def test_the_tools_read_their_config_as_formatted_once(tmp_path):
    from mixssl_mm.apis.cli import parse_and_read
    _, args, cfg = parse_and_read('train.py', [CONFIG])
    assert args.config == CONFIG
    assert type(cfg) is FormattedOnceConfig
    assert cfg.model.type == 'MixSSL'
