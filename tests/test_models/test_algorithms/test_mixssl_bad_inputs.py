"""MixSSL's own checks in real training runs (through mixssl_mm.apis.train,
what tools/train.py runs): a decoder that does not fit the encoder and an
input size the decoder cannot restore are refused with the fix, and the
failed run leaves no work dir behind."""
import pytest

from tests._helpers.training import train_in_process  # noqa: F401


def test_decoder_channels_not_matching_the_encoder(tmp_path, image_folders,
                                                   train_in_process):
    work = tmp_path / 'work'
    with pytest.raises(ValueError, match='encoder outputs 128 channels but '
                       'neck.in_channels=2048; set model.neck.in_channels'):
        train_in_process(train_in_process.config(image_folders), work,
                         '--cfg-options', 'model.neck.in_channels=2048')
    assert not work.exists()


def test_input_size_the_decoder_cannot_restore(tmp_path, image_folders,
                                               train_in_process):
    work = tmp_path / 'work'
    view = ("[dict(type='LoadImageFromFile'), "
            "dict(type='Resize', scale=(40, 40))]")
    with pytest.raises(ValueError, match='40x40 is not divisible by the '
                       'encoder stride 32'):
        train_in_process(train_in_process.config(image_folders, view=view),
                         work)
    assert not work.exists()  # failed in iteration 1: nothing kept
