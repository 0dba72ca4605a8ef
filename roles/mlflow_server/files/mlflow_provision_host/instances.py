"""`instance-wait UNIT URL TIMEOUT [VERSION]`: wait until one MLflow instance answers its
/health, or say why it will not; `instance-versions UNIT`: the MLflow versions UNIT runs;
`instances-ready TIMEOUT UNIT=URL...`: whether every instance is enabled, running and answering
(a re-run's quick look).

instance-wait exits 0 once URL answers 200 (and, with VERSION, only if the unit's processes run
the venv of MLflow VERSION: an upgrade's gate). Exits 1 as soon as systemd reports that UNIT's
process ended (it is waiting to be restarted, or failed, or stopped): an instance that rejects
its configuration is reported within seconds instead of after TIMEOUT. Exits 1 after TIMEOUT
seconds otherwise. Standard library only: it runs with the system python, any MLflow version.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

# The venv of a version, in the paths of the files a process has mapped (its libraries).
VENV = re.compile(r"/venvs/([^/\s]+)/lib/")
PROPERTIES = (
    "ActiveState",
    "SubState",
    "Result",
    "ExecMainCode",
    "ExecMainStatus",
    "NRestarts",
    "UnitFileState",
)


def unit_state(unit):
    out = subprocess.run(  # noqa: S603 - a fixed program and the role's unit name
        ["/usr/bin/systemctl", "show", unit, "--property=" + ",".join(PROPERTIES)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def ended(state, restarts_before):
    """Why the unit's process is no longer running, or None while it is (or is starting)."""
    if state.get("SubState") == "auto-restart" or state.get("NRestarts", "0") != restarts_before:
        status = state.get("ExecMainStatus", "?")
        return f"exited with status {status} and is being restarted by systemd"
    if state.get("ActiveState") in ("failed", "inactive"):
        result, status = state.get("Result", "?"), state.get("ExecMainStatus", "?")
        return f"is {state.get('ActiveState')} (result {result}, status {status})"
    return None


def healthy(url):
    try:
        # The role passes http://<loopback>:<port>/health.
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _descendants(pid):
    """pid and every process below it."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid ...: comm may hold spaces, the last ")" ends it.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(fields[1], []).append(stat.parent.name)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def served_versions(unit):
    """The MLflow versions whose venv (/opt/mlflow/venvs/<version>/) the unit's processes have
    loaded: what the instance serves, whatever `current` links to now. (Its /version would say
    it too, but MLflow's auth app answers it only with credentials.)"""
    main_pid = subprocess.run(  # noqa: S603 - a fixed program and the role's unit name
        ["/usr/bin/systemctl", "show", unit, "--property=MainPID", "--value"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    versions = set()
    if main_pid in ("", "0"):
        return versions
    for pid in _descendants(main_pid):
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue  # ended meanwhile
        versions.update(VENV.findall(maps))
    return versions


def wait(
    unit,
    url,
    timeout,
    state=unit_state,
    probe=healthy,
    clock=time.monotonic,
    sleep=time.sleep,
    version=None,
    ask_versions=served_versions,
):
    """(ok, message)."""
    started = clock()
    restarts_before = state(unit).get("NRestarts", "0")
    while True:
        if probe(url):
            if version is None:
                return True, f"{unit} answered {url} after {clock() - started:.1f} s"
            served = ask_versions(unit)
            if served == {version}:
                return True, f"{unit} serves MLflow {version} after {clock() - started:.1f} s"
            shown = ", ".join(sorted(served)) or "no version the role installed"
            return False, f"{unit} is healthy but runs MLflow {shown}, not {version}"
        why = ended(state(unit), restarts_before)
        if why:
            return False, f"{unit} {why} before it answered {url}"
        if clock() - started >= timeout:
            return False, f"{unit} did not answer {url} within {timeout} s"
        # Every quarter second: an upgrade's write window stays open until the answer comes.
        sleep(0.25)


def instance_wait(args) -> int:
    # The module's functions looked up now, not bound as defaults: tests replace them.
    ok, message = wait(
        args.unit, args.url, args.timeout, state=unit_state, probe=healthy, version=args.version
    )
    print(message)
    return 0 if ok else 1


def instance_versions(args) -> int:
    print(",".join(sorted(served_versions(args.unit))))
    return 0


def instances_ready(args) -> int:
    """0 when every UNIT is enabled, running and answers its URL within TIMEOUT seconds; else 1
    at the first that is not, saying why. A deploy with nothing to restart asks this once
    instead of starting and waiting for each instance; on 1 it takes the full way."""
    for spec in args.instances:
        unit, url = spec.split("=", 1) if "=" in spec else (spec, "")
        state = unit_state(unit)
        if state.get("UnitFileState") != "enabled":
            print(f"{unit} is not enabled ({state.get('UnitFileState') or 'no such unit'})")
            return 1
        if state.get("ActiveState") != "active":
            print(f"{unit} is {state.get('ActiveState') or 'unknown'}, not active")
            return 1
        ok, message = wait(
            unit,
            url,
            args.timeout,
            state=unit_state,
            probe=healthy,
            clock=time.monotonic,
            sleep=time.sleep,
        )
        print(message)
        if not ok:
            return 1
    return 0
