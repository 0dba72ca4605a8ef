"""`mlflow-host instance-wait` and `instance-versions` (mlflow_provision_host/instances.py): the
health wait of an MLflow instance, healthy, crashed (reported at once), or too slow; the versions
a unit's processes run."""

import pytest
from mlflow_provision_host import cli
from mlflow_provision_host import instances as iw

RUNNING = {"ActiveState": "activating", "SubState": "start", "NRestarts": "0"}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def _wait(states, answers, timeout=10):
    clock, states, answers = Clock(), iter(states), iter(answers)
    last = {}

    def state(_unit):
        nonlocal last
        last = next(states, last)
        return last

    return iw.wait(
        "mlflow@5000.service",
        "http://127.0.0.1:5000/health",
        timeout,
        state=state,
        probe=lambda _url: next(answers, False),
        clock=clock,
        sleep=clock.sleep,
    ), clock.now


def test_healthy_after_a_few_probes():
    (ok, message), waited = _wait([RUNNING] * 10, [False, False, True])
    assert ok and waited == 0.5  # two quarter-second pauses
    assert message == "mlflow@5000.service answered http://127.0.0.1:5000/health after 0.5 s"


def test_an_exit_is_reported_at_once_not_after_the_timeout():
    crashed = {"ActiveState": "activating", "SubState": "auto-restart", "ExecMainStatus": "2",
               "NRestarts": "0"}  # fmt: skip
    (ok, message), waited = _wait([RUNNING, RUNNING, crashed], [False] * 100, timeout=120)
    assert not ok and waited < 2
    assert message == (
        "mlflow@5000.service exited with status 2 and is being restarted by systemd"
        " before it answered http://127.0.0.1:5000/health"
    )


def test_a_restart_between_two_looks_counts_as_an_exit():
    restarted = dict(RUNNING, NRestarts="1")
    (ok, message), _ = _wait([RUNNING, RUNNING, restarted], [False] * 100, timeout=120)
    assert not ok and "exited" in message


def test_a_failed_unit_says_so():
    failed = {"ActiveState": "failed", "SubState": "failed", "Result": "exit-code",
              "ExecMainStatus": "1", "NRestarts": "0"}  # fmt: skip
    (ok, message), _ = _wait([RUNNING, failed], [False] * 100)
    assert not ok and "is failed (result exit-code, status 1)" in message


def test_too_slow_times_out():
    (ok, message), waited = _wait([RUNNING] * 1000, [False] * 1000, timeout=3)
    assert not ok and waited == 3.0
    assert message.endswith("did not answer http://127.0.0.1:5000/health within 3 s")


def test_bad_usage_exits_2(capsys):
    for argv in (["instance-wait", "mlflow@5000.service"], ["instance-wait", "u", "url", "ten"]):
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        assert exited.value.code == 2
        assert "usage: mlflow-host instance-wait" in capsys.readouterr().err


def test_the_command_waits_and_says_what_it_saw(capsys, monkeypatch):
    """The subcommand's own path: an instance whose unit failed is reported, exit 1."""
    failed = {"ActiveState": "failed", "Result": "exit-code", "ExecMainStatus": "2"}
    monkeypatch.setattr(iw, "unit_state", lambda _unit: failed)
    monkeypatch.setattr(iw, "healthy", lambda _url: False)
    rc = cli.main(["instance-wait", "mlflow@5000.service", "http://127.0.0.1:1/health", "30"])
    assert rc == 1
    assert capsys.readouterr().out.strip() == (
        "mlflow@5000.service is failed (result exit-code, status 2)"
        " before it answered http://127.0.0.1:1/health"
    )
    monkeypatch.setattr(iw, "served_versions", lambda _unit: {"3.17.2", "3.16.0"})
    assert cli.main(["instance-versions", "mlflow@5000.service"]) == 0
    assert capsys.readouterr().out.strip() == "3.16.0,3.17.2"


def test_an_upgrade_gate_checks_the_served_version():
    def gate(versions):
        return iw.wait(
            "mlflow@5000.service",
            "http://127.0.0.1:5000/health",
            10,
            state=lambda _unit: RUNNING,
            probe=lambda _url: True,
            version="3.17.2",
            ask_versions=lambda unit: versions if unit == "mlflow@5000.service" else set(),
        )

    ok, message = gate({"3.17.2"})
    assert ok and message.startswith("mlflow@5000.service serves MLflow 3.17.2 after")
    ok, message = gate({"3.11.1"})
    assert not ok
    assert message == "mlflow@5000.service is healthy but runs MLflow 3.11.1, not 3.17.2"
    ok, message = gate(set())
    assert message.endswith("runs MLflow no version the role installed, not 3.17.2")


def test_the_venv_is_read_from_the_mapped_files():
    maps = (
        "7f00-7f01 r-xp 00000000 08:01 12 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        "7f02-7f03 r-xp 00000000 08:01 13 /opt/mlflow/venvs/3.17.2/lib/python3.11/"
        "site-packages/pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so\n"
    )
    assert iw.VENV.findall(maps) == ["3.17.2"]


def test_descendants_of_a_process_include_its_children():
    import os
    import subprocess

    child = subprocess.Popen(["sleep", "5"])
    try:
        found = iw._descendants(str(os.getpid()))
        assert str(os.getpid()) in found and str(child.pid) in found
    finally:
        child.kill()
        child.wait()


def test_instances_ready_looks_at_every_instance_and_stops_at_the_first_not_ready(
    capsys, monkeypatch
):
    units = {
        "mlflow@5001.service": {"UnitFileState": "enabled", "ActiveState": "active"},
        "mlflow@5002.service": {"UnitFileState": "enabled", "ActiveState": "active"},
    }
    monkeypatch.setattr(iw, "unit_state", lambda unit: {**RUNNING, **units.get(unit, {})})
    monkeypatch.setattr(iw, "healthy", lambda url: "5003" not in url)
    argv = ["instances-ready", "5"] + [
        f"mlflow@{port}.service=http://127.0.0.1:{port}/health" for port in (5001, 5002)
    ]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.count("answered") == 2
    units["mlflow@5002.service"]["UnitFileState"] = "disabled"
    assert cli.main(argv) == 1
    assert capsys.readouterr().out.strip().endswith("mlflow@5002.service is not enabled (disabled)")
    units["mlflow@5002.service"] = {"UnitFileState": "enabled", "ActiveState": "failed"}
    assert cli.main(argv) == 1
    assert "mlflow@5002.service is failed, not active" in capsys.readouterr().out
    # Running but not answering: the wait's own verdict, after TIMEOUT seconds.
    units["mlflow@5003.service"] = {"UnitFileState": "enabled", "ActiveState": "active"}
    clock = Clock()
    monkeypatch.setattr(iw.time, "monotonic", clock)
    monkeypatch.setattr(iw.time, "sleep", clock.sleep)
    assert cli.main(["instances-ready", "5", "mlflow@5003.service=http://x:5003/health"]) == 1
    assert "did not answer http://x:5003/health within 5 s" in capsys.readouterr().out
