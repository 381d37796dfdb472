"""Waiting on training runs that tests start side by side."""


def wait_for_runs(procs: dict, timeout: int = 300) -> dict:
    """``{name: (work_dir, Popen)}`` -> ``{name: (work_dir, returncode,
    output)}``; a run still alive after an error or timeout is killed, so a
    failing test leaves no stray trainings behind."""
    out = {}
    try:
        for name, (work, proc) in procs.items():
            log, _ = proc.communicate(timeout=timeout)
            out[name] = (work, proc.returncode, log)
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    return out
