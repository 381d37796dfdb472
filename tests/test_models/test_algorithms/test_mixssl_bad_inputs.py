"""MixSSL's own checks in real training runs (through mixssl_mm.apis.train,
what tools/train.py runs): a decoder that does not fit the encoder (refused
by the pre-flight, and by MixSSL's first step) and an input size the
decoder cannot restore are refused with the fix, and the failed run leaves
no work dir behind."""
import re

import pytest
import torch

from mixssl_mm.preflight import ConfigError
from tests._helpers.models import MIXSSL_R18, build_model


def test_decoder_channels_not_matching_the_encoder(tmp_path, image_folders,
                                                   train_in_process):
    # tools/train.py: the pre-flight (mixssl_mm.preflight.channels) refuses
    # it before the Runner exists
    work = tmp_path / 'work'
    with pytest.raises(
            ConfigError,
            match=re.escape(
                'outputs 128 channels, but these settings expect another '
                'number:\n  model.neck.in_channels=2048\nSet them to 128')):
        train_in_process(
            train_in_process.config(image_folders), work, '--cfg-options',
            'model.neck.in_channels=2048')
    assert not work.exists()
    # mmpretrain's own tools have no pre-flight: MixSSL runs nothing when
    # built, and its first step names the key
    model = build_model(MIXSSL_R18, neck=dict(in_channels=2048))
    with pytest.raises(
            ValueError, match='in_channels=2048; set '
            'neck.in_channels'):
        model.loss([torch.zeros(2, 3, 32, 32)] * 2, None)


def test_input_size_the_decoder_cannot_restore(tmp_path, image_folders,
                                               train_in_process):
    work = tmp_path / 'work'
    view = ("[dict(type='LoadImageFromFile'), "
            "dict(type='Resize', scale=(40, 40))]")
    with pytest.raises(
            ValueError, match='40x40 is not divisible by the '
            'encoder stride 32'):
        train_in_process(
            train_in_process.config(image_folders, view=view), work)
    assert not work.exists()  # failed in iteration 1: nothing kept
