"""A unique ``experiment_name`` for each Runner a test builds in-process.

mmengine keys the Runner's ``MMLogger`` and ``MessageHub`` instances by the
experiment name, which defaults to a timestamp to the second: two Runners
built by one pytest worker within the same second would share one logger
(its log file in the first test's work_dir) and one message hub."""
import uuid


def run_name(prefix: str = 'test') -> str:
    return f'{prefix}_{uuid.uuid4().hex}'
