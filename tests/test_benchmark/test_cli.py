"""mixssl_mm.benchmark.cli: the benchmark's arguments."""
import pytest

from mixssl_mm.benchmark.cli import parse_benchmark_args


def test_benchmark_defaults_keep_the_command_line():
    args = parse_benchmark_args(['--methods', 'rand', '--seeds', '1', '2'])
    # --classes: BloodMNIST's task, chosen from the data when not given
    assert (args.preset, args.classes, args.jobs) == ('cpu-small', None, None)
    assert args.protocols == ['finetune', 'linear', 'knn']
    assert args.argv == ['--methods', 'rand', '--seeds', '1', '2']
    with pytest.raises(SystemExit):
        parse_benchmark_args(['--preset', 'huge'])
