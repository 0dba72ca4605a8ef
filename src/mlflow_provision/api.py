"""The Python API: one function per command, each running one of the collection's playbooks
through ansible-runner, the way ansible-navigator composes it.

    from mlflow_provision import deploy, status
    result = deploy(inventory="inventories/prod")
    if result.ok:
        print(status(inventory="inventories/prod").data)

Secrets: each run gets a fresh private directory (0700) for ansible-runner, removed afterwards.
Variables go there as files (0600) that ansible-playbook reads with `-e @file`: none is ever on a
command line. Ansible hides the results of no_log tasks; the Result keeps only their names.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import ansible_runner
from ansible.parsing.splitter import parse_kv

from . import collection
from .events import Tracker
from .result import ExitCode, Result

EventCallback = Callable[[dict], None]
CancelCallback = Callable[[], bool]
# How often ansible-runner looks at the cancel callback (its pexpect timeout), in seconds.
_POLL = 0.5


def _extravar_args(private_dir: Path, values: Iterable[Mapping | str]) -> list[str]:
    """`-e @file` arguments in the order given (the last wins, as with ansible-playbook): a
    `@file` value as it is, any other (a dict, `key=value ...`, YAML/JSON text) written to a
    0600 file in the private directory first."""
    args = []
    for index, value in enumerate(values, 1):
        if isinstance(value, str) and value.startswith("@"):
            path = Path(value[1:]).expanduser().resolve()
        else:
            path = _write_vars(private_dir, index, value)
        args += ["-e", f"@{path}"]
    return args


def _write_vars(private_dir: Path, index: int, value: Mapping | str) -> Path:
    """A 0600 file of variables: JSON or YAML text as given, `key=value ...` parsed the way
    ansible-playbook's own -e does."""
    if isinstance(value, str) and not value.lstrip().startswith(("{", "[")):
        value = parse_kv(value)
    content = value if isinstance(value, str) else json.dumps(dict(value))
    path = private_dir / "env" / f"vars-{index}.yml"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    with open(path, "w", opener=lambda name, flags: os.open(name, flags, 0o600)) as handle:
        handle.write(content)
    return path


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc; elsewhere none are found)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_sessions(pids: Iterable[int]) -> None:
    """SIGKILL each process and, when it leads one, its process group."""
    for pid in pids:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)


class _Interrupt:
    """Ctrl-C while a run is going: a request to cancel, not a KeyboardInterrupt (ansible-runner
    would take SIGINT over without a cancel callback: ansible-runner issue 1075).

    ansible-runner cancels by killing ansible-playbook's process group, but Ansible's workers
    (one per host running a task) start their own sessions: they would run on, orphaned, to the
    end of their task. The processes below ansible-playbook are noted when the cancel is
    decided and killed with it (`kill_orphans`)."""

    def __init__(self, cancel: CancelCallback | None):
        self._cancel = cancel
        self.requested = threading.Event()
        self._previous = None
        # ansible-playbook's pid: each runner event carries it.
        self.playbook_pid: int | None = None
        self._below: list[int] = []

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, lambda *_: self.requested.set())
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def __call__(self) -> bool:
        if not self.requested.is_set() and self._cancel is not None and self._cancel():
            self.requested.set()
        if self.requested.is_set() and not self._below and self.playbook_pid:
            self._below = _descendants(self.playbook_pid)
        return self.requested.is_set()

    def kill_orphans(self) -> None:
        _kill_sessions(self._below)


def run_playbook(
    command: str,
    playbook: str | Path,
    *,
    inventory: str | Iterable[str] | None = None,
    limit: str | None = None,
    extravars: Mapping | None = None,
    extravar_args: Iterable[Mapping | str] = (),
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    on_event: EventCallback | None = None,
    cancel: CancelCallback | None = None,
    read_status: bool = False,
    report_var: str | None = None,
    vault_password_file: str | Path | None = None,
) -> Result:
    """Run `playbook` (a name in the collection's playbooks/, or a path) and return its Result.

    `extravar_args`: the CLI's -e values in order ("key=value", JSON/YAML text, or "@file");
    `on_event`: called with each ansible-runner event (a dict); `cancel`: polled while the run
    goes, True cancels it (Ctrl-C does too, from the main thread); `report_var`: the playbook
    writes a JSON report to the path this variable names, returned as `Result.data`
    (`read_status`: the status playbook's); `vault_password_file`: ansible-vault's password,
    for vault-encrypted inventory files and the team's secret store."""
    tracker = Tracker(command)
    try:
        path = Path(playbook) if Path(str(playbook)).suffix else collection.playbook(str(playbook))
        env = collection.ansible_env()
    except collection.CollectionNotFound as error:
        return _error(tracker, str(error))
    inventories = [inventory] if isinstance(inventory, str | Path) else list(inventory or [])
    for item in inventories:
        if not Path(item).expanduser().exists():
            return _error(tracker, f"inventory {item} does not exist", ExitCode.BAD_INPUT)

    private_dir = Path(tempfile.mkdtemp(prefix="mlflow-provision-"))
    try:
        values = [extravars, *extravar_args] if extravars else list(extravar_args)
        cmdline = _extravar_args(private_dir, values)
        status_file = private_dir / "report.json"
        if read_status:
            report_var = "mlflow_provision_status_json"
        if report_var:
            asked = {report_var: str(status_file)}
            cmdline += ["-e", f"@{_write_vars(private_dir, 0, asked)}"]
        if vault_password_file:
            cmdline += ["--vault-password-file", str(Path(vault_password_file).expanduser())]
        if check:
            cmdline.append("--check")
        if diff:
            cmdline.append("--diff")

        interrupt = _Interrupt(cancel)

        def handle(event: dict) -> bool:
            interrupt.playbook_pid = interrupt.playbook_pid or event.get("pid")
            tracker.handle(event)
            if on_event is not None:
                on_event(event)
            # True: ansible-runner keeps the event in the private directory (removed below).
            return True

        with interrupt:
            runner = ansible_runner.run(
                private_data_dir=str(private_dir),
                playbook=str(path),
                inventory=[str(Path(item).expanduser().resolve()) for item in inventories] or None,
                limit=limit,
                cmdline=shlex.join(cmdline),
                envvars=env,
                verbosity=verbosity or None,
                settings={"pexpect_timeout": _POLL},
                quiet=True,
                event_handler=handle,
                cancel_callback=interrupt,
            )
        cancelled = runner.status == "canceled"
        if cancelled:
            interrupt.kill_orphans()
        data = None
        if report_var and status_file.is_file() and not cancelled:
            data = json.loads(status_file.read_text())
        return tracker.finish(runner.rc or 0, cancelled=cancelled, data=data)
    finally:
        shutil.rmtree(private_dir, ignore_errors=True)


def _error(tracker: Tracker, message: str, code: ExitCode = ExitCode.ERROR) -> Result:
    result = tracker.finish(0)
    result.exit_code, result.error = code, message
    return result


# --- The commands --------------------------------------------------------------------------------
# Each takes the keyword options of run_playbook (inventory, limit, extravars, extravar_args,
# check, diff, verbosity, on_event, cancel).


def deploy(**options) -> Result:
    """The Azure VM when the inventory asks for one, then every host in `mlflow_servers`
    configured (playbooks/site.yml)."""
    return run_playbook("deploy", "site", **options)


def check(**options) -> Result:
    """The preflight only: every role's input on every host, and the wiring between the roles;
    no host is touched (playbooks/validate.yml)."""
    return run_playbook("check", "validate", **options)


def status(**options) -> Result:
    """Each host's status; `Result.data` holds it ({host: {"mlflow": ..., "nginx": ...}}) and
    `Result.verdict` what it adds up to, per host and overall (healthy, degraded, down). The exit
    code says the verdict too: 0 healthy, 5 degraded, 6 down (a host that could not be read
    counts as down; a run that could not start keeps its own code)."""
    return judge(run_playbook("status", "status", read_status=True, **options))


def judge(result: Result) -> Result:
    """The status run's verdict: per host and overall, in `result.verdict` and its exit code."""
    if result.data is None:
        return result
    filters = collection.status_filters()
    hosts = filters.mlflow_status_verdicts(result.data)
    overall = filters.mlflow_overall_verdict(hosts)
    result.verdict = {"overall": overall, "hosts": hosts}
    # A run that could not start, was refused or cancelled keeps its code; otherwise what the
    # hosts answered decides (an unreachable host is one that does not serve).
    if overall != "healthy" and result.exit_code in (
        ExitCode.SUCCESS,
        ExitCode.FAILED,
        ExitCode.UNREACHABLE,
    ):
        result.exit_code = ExitCode.DEGRADED if overall == "degraded" else ExitCode.DOWN
    return result


def secrets(**options) -> Result:
    """Where each host's generated secrets live, and whether the store has them; never a value
    (playbooks/secrets.yml, listing only). `Result.data`: {host: [{name, where, state, ...}]}."""
    extra = [*options.pop("extravar_args", ()), "mlflow_provision_secrets_list=true"]
    return run_playbook(
        "secrets",
        "secrets",
        report_var="mlflow_provision_secrets_json",
        extravar_args=extra,
        **options,
    )


def restart(**options) -> Result:
    """A rolling restart, one host and one instance at a time (playbooks/restart.yml)."""
    return run_playbook("restart", "restart", **options)


def retire(**options) -> Result:
    """Take the hosts of `limit` out of a cluster for good: each leaves the load balancer's
    rotation, then its nginx, MLflow instances and timers stop and are disabled
    (playbooks/retire.yml). Refused, changing nothing, when no other host would serve."""
    return run_playbook("retire", "retire", **options)


def upgrade(version: str | None = None, **options) -> Result:
    """Upgrade MLflow to `version` (default: the collection's pin), with preflight, backup and
    rollback (playbooks/upgrade.yml)."""
    return run_playbook("upgrade", "upgrade", **_with(options, mlflow_server_version=version))


def backup(label: str | None = None, fetch_dir: str | None = None, **options) -> Result:
    """A backup on each host; with `fetch_dir`, copied to the controller (playbooks/backup.yml)."""
    fetch = str(Path(fetch_dir).expanduser().resolve()) if fetch_dir else None
    return run_playbook(
        "backup",
        "backup",
        **_with(options, mlflow_server_backup_label=label, mlflow_server_backup_fetch_dir=fetch),
    )


def restore(backup: str | None = None, source: str | None = None, **options) -> Result:
    """Restore the backup `backup` (a name on the host) or `source` (a fetched backup directory
    on the controller) (playbooks/restore.yml)."""
    if bool(backup) == bool(source):
        raise ValueError("restore: give one of backup (a backup's name) or source (a directory)")
    source = str(Path(source).expanduser().resolve()) if source else None
    return run_playbook(
        "restore",
        "restore",
        **_with(options, mlflow_server_backup_name=backup, mlflow_server_restore_source=source),
    )


def destroy(with_data: bool = False, **options) -> Result:
    """Remove the Azure VMs and what role azure_vm made for them (playbooks/destroy_azure.yml);
    the database server and the storage account stay, with the network they need, unless
    `with_data`."""
    return run_playbook(
        "destroy", "destroy_azure", **_with(options, azure_vm_destroy_data=with_data or None)
    )


def _with(options: dict, **values) -> dict:
    """`options` with the command's own variables last (they win over the user's -e)."""
    chosen = {key: value for key, value in values.items() if value is not None}
    if chosen:
        options = {**options, "extravar_args": [*options.get("extravar_args", ()), chosen]}
    return options
