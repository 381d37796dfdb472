"""mixssl_mm.utils.checkpoint: reading checkpoints, the key listing shared by
the pre-flight and the converter, and the parsing of torch's weights-only
refusal shared by mixssl_mm.compat and the converter."""
import os
import pickle

import pytest
import torch

from mixssl_mm.utils.checkpoint import (NotACheckpointError, compare_keys,
                                        format_keys, mismatch_lines,
                                        read_checkpoint, refused_global,
                                        state_dict_of, unpickler_reason)


def test_read_and_state_dict_of(tmp_path):
    path = tmp_path / 'c.pth'
    torch.save(
        {
            'state_dict': {
                'module.a': torch.ones(1),
                'b': torch.ones(2)
            },
            'meta': {}
        }, path)
    assert sorted(state_dict_of(read_checkpoint(str(path)))) == ['a', 'b']
    assert list(state_dict_of({'x': 1})) == ['x']  # a bare state dict
    torch.save(torch.ones(3), path)
    with pytest.raises(NotACheckpointError, match='holds a Tensor'):
        read_checkpoint(str(path))


def test_compare_keys_and_format_keys():
    expected = {
        'a': torch.zeros(2, 3),
        'bn.num_batches_tracked': torch.zeros(()),
        'c': torch.zeros(1),
        'd': torch.zeros(4),
        'lam_sampler.seed': torch.tensor(0),
        'lam_sampler.rng_state': torch.zeros(0, dtype=torch.uint8)
    }
    given = {'a': torch.zeros(3, 2), 'd': torch.zeros(4), 'z': torch.zeros(1)}
    missing, unexpected, shapes = compare_keys(expected, given)
    assert compare_keys(
        expected,
        dict(given,
             **{'lam_sampler.rng_state': torch.zeros(16, dtype=torch.uint8)
                })) == (missing, unexpected, shapes)
    # num_batches_tracked and MixSSL's λ state are never missing
    assert missing == ['c']
    assert unexpected == ['z']
    assert shapes == ['a (3, 2) vs (2, 3)']
    keys = [f'k{i}' for i in range(7)]
    assert format_keys('missing keys', keys) == \
        '  missing keys: k0, k1, k2, k3, k4 ... (7 in all)'
    assert format_keys('its keys', ['a']) == '  its keys: a'
    # the same result, saying which side is which
    assert mismatch_lines(missing, unexpected, shapes) == (
        '  missing keys (in the model, not in the checkpoint): c\n'
        '  unexpected keys (in the checkpoint, not in the model): z\n'
        '  shape mismatches (the checkpoint vs the model): a (3, 2) vs '
        '(2, 3)\n')
    assert mismatch_lines([], [], shapes, checkpoint='SRC',
                          model='ResNet-18') == \
        '  shape mismatches (SRC vs ResNet-18): a (3, 2) vs (2, 3)\n'
    assert mismatch_lines([], [], []) == ''


def test_refusal_parsing_on_torch_own_messages(tmp_path):

    class Evil:

        def __reduce__(self):
            return os.system, ('true', )

    torch.save({'x': Evil()}, tmp_path / 'evil.pth')
    with pytest.raises(pickle.UnpicklingError) as info:
        torch.load(tmp_path / 'evil.pth', weights_only=True)
    assert refused_global(str(info.value)) in ('posix.system', 'nt.system')
    (tmp_path / 'text.pth').write_text('not a checkpoint')
    with pytest.raises(pickle.UnpicklingError) as info:
        torch.load(tmp_path / 'text.pth', weights_only=True)
    text = str(info.value)
    assert refused_global(text) is None
    reason = unpickler_reason(text)
    assert reason and unpickler_reason(text, first_sentence=True) in reason
    assert unpickler_reason('no such text') is None
