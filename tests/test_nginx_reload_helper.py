"""nginx's graceful reload (roles/nginx_tls/files/nginx-graceful-reload.py) on a fake /proc: the
flag is up before the signal and until the old workers are gone, and down whatever happens.
The real thing runs under keep-alive load in scenario nginx_tls."""

import importlib.util
import signal

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location(
    "nginx_reload", ROOT / "roles/nginx_tls/files/nginx-graceful-reload.py"
)
helper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(helper)

MASTER = 100


def _proc(tmp_path, processes):
    """A /proc with `processes`: {pid: (command name, ppid)}."""
    proc = tmp_path / "proc"
    for pid, (name, ppid) in processes.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "stat").write_text(f"{pid} ({name}) S {ppid} {pid} {pid} 0 -1\n")
    (proc / "self").mkdir(parents=True, exist_ok=True)
    return proc


def test_children_are_found_by_their_parent_even_with_odd_names(tmp_path):
    proc = _proc(
        tmp_path,
        {MASTER: ("nginx", 1), 101: ("nginx", MASTER), 102: ("a) b (c", MASTER), 103: ("sh", 1)},
    )
    assert helper.children(MASTER, str(proc)) == {101, 102}


def test_flag_is_up_across_the_signal_and_until_old_workers_exit(tmp_path):
    proc = _proc(tmp_path, {MASTER: ("nginx", 1), 101: ("nginx", MASTER)})
    flag = tmp_path / "closing"
    seen = []

    def kill(pid, sig):
        seen.append(("kill", pid, sig, flag.exists()))

    def sleep(seconds):
        seen.append(("sleep", seconds, flag.exists()))
        # The old worker exits while the helper waits after the signal.
        if any(step[0] == "kill" for step in seen):
            (proc / "101" / "stat").unlink()
            (proc / "101").rmdir()

    left = helper.reload(MASTER, str(flag), 1.0, 5.0, str(proc), kill, sleep)
    assert left == set()
    assert seen[0] == ("sleep", 1.0, True)  # the window, flag up
    assert seen[1] == ("kill", MASTER, signal.SIGHUP, True)
    assert ("sleep", 0.1, True) in seen  # waiting for the old worker, flag still up
    assert not flag.exists()


def test_a_slow_old_worker_is_reported_and_the_flag_still_drops(tmp_path):
    proc = _proc(tmp_path, {MASTER: ("nginx", 1), 101: ("nginx", MASTER)})
    flag = tmp_path / "closing"
    left = helper.reload(MASTER, str(flag), 0, 0.3, str(proc), lambda *a: None, lambda s: None)
    assert left == {101}
    assert not flag.exists()


def test_no_master_no_flag(tmp_path):
    proc = _proc(tmp_path, {})
    flag = tmp_path / "closing"
    with pytest.raises(ProcessLookupError, match="not running"):
        helper.reload(MASTER, str(flag), 1, 1, str(proc), lambda *a: None, lambda s: None)
    assert not flag.exists()


def test_a_failed_signal_drops_the_flag(tmp_path):
    proc = _proc(tmp_path, {MASTER: ("nginx", 1)})
    flag = tmp_path / "closing"

    def kill(pid, sig):
        raise PermissionError("not allowed")

    with pytest.raises(PermissionError):
        helper.reload(MASTER, str(flag), 0, 1, str(proc), kill, lambda s: None)
    assert not flag.exists()
