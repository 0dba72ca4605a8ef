"""What a run leaves: per-host counts, the changed tasks, the failures, the exit code."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import IntEnum


class ExitCode(IntEnum):
    """The CLI's exit codes (also `Result.exit_code`); README: "Exit codes"."""

    SUCCESS = 0
    # The tool could not run the playbook at all (no inventory, ansible-playbook missing).
    ERROR = 1
    # A task failed on at least one host; changes may have been made.
    FAILED = 2
    # Refused before any change: a variable or option is invalid, or a preflight check said no.
    BAD_INPUT = 3
    # At least one host could not be reached (and nothing failed on the others).
    UNREACHABLE = 4
    # `status` only: MLflow is served, but a host runs fewer instances than it has, or one host
    # of several does not serve (or could not be reached).
    DEGRADED = 5
    # `status` only: no host serves MLflow to its clients (nginx, the instances, the balancer).
    DOWN = 6
    # Cancelled (Ctrl-C or the API's cancel callback): 128 + SIGINT, as shells report it.
    CANCELLED = 130


# Result.status for each exit code: the same word in the JSON and in the API.
STATUS = {
    ExitCode.SUCCESS: "successful",
    ExitCode.ERROR: "error",
    ExitCode.FAILED: "failed",
    ExitCode.BAD_INPUT: "bad_input",
    ExitCode.UNREACHABLE: "unreachable",
    ExitCode.DEGRADED: "degraded",
    ExitCode.DOWN: "down",
    ExitCode.CANCELLED: "cancelled",
}


@dataclass
class HostStats:
    """Ansible's per-host recap."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass
class TaskRef:
    """A task on a host, with what it said (`message` is empty for no_log tasks' output)."""

    host: str
    play: str
    task: str
    action: str
    message: str = ""
    # The task had no_log: its output is not shown (nor kept).
    hidden: bool = False
    # "failed" or "unreachable" (failures); "changed"; "rescued" or "ignored" (recovered).
    kind: str = ""


@dataclass
class Result:
    """The outcome of one command (`deploy`, `status`, ...)."""

    command: str
    exit_code: ExitCode
    duration: float
    hosts: dict[str, HostStats] = field(default_factory=dict)
    changed_tasks: list[TaskRef] = field(default_factory=list)
    failures: list[TaskRef] = field(default_factory=list)
    # Failed tasks that a rescue block or ignore_errors handled: the run went on.
    recovered: list[TaskRef] = field(default_factory=list)
    # The play and task running when the run ended (what a cancel interrupted).
    last_task: TaskRef | None = None
    # `status`: {host: {"mlflow": ..., "nginx": ...}} as playbooks/status.yml writes it.
    data: dict | None = None
    # Why the tool itself could not run (ExitCode.ERROR).
    error: str = ""
    # `status`: {"overall": "healthy" | "degraded" | "down", "hosts": {host: {verdict, reasons}}}.
    verdict: dict | None = None

    @property
    def status(self) -> str:
        return STATUS[self.exit_code]

    @property
    def ok(self) -> bool:
        return self.exit_code == ExitCode.SUCCESS

    def to_dict(self) -> dict:
        """The `--json` document."""
        document = {
            "command": self.command,
            "status": self.status,
            "exit_code": int(self.exit_code),
            "duration_seconds": round(self.duration, 1),
            "hosts": {name: asdict(stats) for name, stats in sorted(self.hosts.items())},
            "changed_tasks": [asdict(task) for task in self.changed_tasks],
            "failures": [asdict(task) for task in self.failures],
            "recovered": [asdict(task) for task in self.recovered],
            "last_task": asdict(self.last_task) if self.last_task else None,
        }
        if self.data is not None:
            document["data"] = self.data
        if self.verdict is not None:
            document["verdict"] = self.verdict
        if self.error:
            document["error"] = self.error
        return document
