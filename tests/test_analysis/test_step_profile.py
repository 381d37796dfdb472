"""mixssl_mm.analysis.step_profile: MixSSL's step by part, on CPU with
tiny settings."""
from mixssl_mm.analysis.step_profile import main


def test_parts_of_the_step(repo_cwd, capsys):
    rows = main([
        '--device', 'cpu', '--depth', '18', '--size', '32', '--batch', '4',
        '--iters', '1', '--warmup', '0'
    ])
    assert [r[0] for r in rows
            ] == ['encoder', 'decoder', 'head', 'optimizer', 'train_step']
    assert all(ms > 0 for _, ms, _ in rows)
    assert rows[0][2] > 0 and rows[-1][2] >= rows[0][2]  # GFLOP
    out = capsys.readouterr().out
    assert out.startswith('MixSSL ResNet-18, batch 4, 32 px, cpu')
    assert '| train_step |' in out and '| 100% |' in out
