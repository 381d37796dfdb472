# Copyright (c) mixssl_mm contributors. All rights reserved.
"""``quiet_startup = True`` in a config: the console of a run started by
``mixssl_mm.apis.train``/``test`` leaves out mmengine's start-up dumps.

mmengine's Runner logs, while it is constructed, the system environment, the
whole config (about 280 lines for the quick start) and the order of every
hook at every stage (about 100 lines), and its ``CheckpointHook`` adds two
deprecation notices about mmengine's own file client; mmengine has no option
to leave them out short of ``log_level='WARNING'``, which would also hide the
training progress. With ``quiet_startup`` they still go to the log file
(``<work_dir>/<timestamp>/<timestamp>.log``; the config is also dumped as
``<work_dir>/<config name>.py``); only the console handler drops them, and
one line says where they are. Progress, checkpoints, warnings and errors
are untouched. The default (unset) is mmengine's console.
"""
import logging

__all__ = ['QUIET_KEY', 'StartupDumpFilter', 'runner_class']

QUIET_KEY = 'quiet_startup'
# the first characters of each record left out (mmengine 0.10 wording)
_DUMPS = ('\n' + '-' * 60 + '\nSystem environment:', 'Config:\n',
          'Hooks will be executed in the following order:',
          '"FileClient" will be deprecated in future.',
          '"HardDiskBackend" is the alias of "LocalBackend"')


class StartupDumpFilter(logging.Filter):
    """Drops mmengine's start-up dumps (see the module docstring) from the
    handler it is added to."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(_DUMPS)


def runner_class():
    """A Runner whose console (stream) handler has a
    :class:`StartupDumpFilter`; the log file keeps every record."""
    from mmengine.runner import Runner

    class QuietStartupRunner(Runner):

        def build_logger(self, *args, **kwargs):
            logger = super().build_logger(*args, **kwargs)
            for handler in logger.handlers:
                if type(handler) is logging.StreamHandler and not any(
                        isinstance(f, StartupDumpFilter)
                        for f in handler.filters):
                    handler.addFilter(StartupDumpFilter())
            logger.info(
                f'{QUIET_KEY}=True: the environment, the config and the '
                'hook order are not shown here; they are in the log file '
                f'{logger._log_file} (the config also in {self.work_dir}).')
            return logger

    return QuietStartupRunner
