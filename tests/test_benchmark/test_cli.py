"""mixssl_mm.benchmark.cli: both tools' arguments."""
import pytest

from mixssl_mm.benchmark.cli import parse_benchmark_args, parse_throughput_args


def test_benchmark_defaults_keep_the_command_line():
    args = parse_benchmark_args(['--methods', 'rand', '--seeds', '1', '2'])
    # --classes: BloodMNIST's task, chosen from the data when not given
    assert (args.preset, args.classes, args.jobs) == ('cpu-small', None, None)
    assert args.protocols == ['finetune', 'linear', 'knn']
    assert args.argv == ['--methods', 'rand', '--seeds', '1', '2']
    with pytest.raises(SystemExit):
        parse_benchmark_args(['--preset', 'huge'])


def test_bad_throughput_arguments_are_refused(capsys):
    for argv, msg in ((['--size', '48'], 'multiple of 32'),
                      (['--amp', '--device', 'cpu'], 'needs CUDA'),
                      (['--iters',
                        '0'], '--iters >= 1'), (['--methods',
                                                 'rand'], 'invalid choice')):
        with pytest.raises(SystemExit):
            parse_throughput_args(argv)
        assert msg in capsys.readouterr().err, argv
    args = parse_throughput_args(['--device', 'cpu', '--loader-only'])
    assert args.modes == ['pipeline']
