"""mixssl_mm.apis.console: with quiet_startup=True the console of a run
leaves out mmengine's start-up dumps (environment, config, hook order: about
400 of the quick start's lines), says where they are, and keeps everything
else; the log file keeps them all."""
import glob

DUMPS = ('System environment:', 'Config:', 'Hooks will be executed',
         '"FileClient" will be deprecated')


def _lines(text, marker):
    return [line for line in text.splitlines() if marker in line]


def test_quiet_startup_keeps_the_dumps_in_the_log_file_only(
        tmp_path, image_folders, train_in_process, capsys):
    cfg = train_in_process.config(image_folders)
    work = tmp_path / 'work'
    train_in_process(cfg, work, '--cfg-options', 'quiet_startup=True')
    console = capsys.readouterr().out
    log = open(glob.glob(str(work / '*' / '*.log'))[0]).read()
    for marker in DUMPS:
        assert not _lines(console, marker), marker
        assert _lines(log, marker), marker
    assert 'quiet_startup=True: the environment, the config and the hook ' \
        'order are not shown here; they are in the log file ' in console
    # progress and checkpoints stay on the console
    assert _lines(console, 'Epoch(train) [1][2/2]')
    assert _lines(console, 'Saving checkpoint at 1 epochs')
