"""Temporary folders of shared (module- or session-scoped) fixtures that do
not outlive their fixture.

pytest removes a passed test's ``tmp_path`` itself under
``tmp_path_retention_policy = failed``, but a ``tmp_path_factory`` folder only
when the whole session ends green; the shared fixtures (trainings,
converted checkpoints, the launch matrix) hold hundreds of MB, so they
delete their folder at teardown.
"""
import shutil

__all__ = ['shared_tmp']


def shared_tmp(request, tmp_path_factory, name: str):
    """A new folder ``<basetemp>/<name>N`` for the fixture of ``request``;
    deleted when the fixture is torn down, unless a test failed while it
    existed (then it stays for inspection, like a failed test's
    ``tmp_path``)."""
    path = tmp_path_factory.mktemp(name)
    failed_before = request.session.testsfailed

    def remove():
        if request.session.testsfailed == failed_before:
            shutil.rmtree(path, ignore_errors=True)

    request.addfinalizer(remove)
    return path
