"""ansible-runner's events, followed as they come: the current play and task, per-host counts,
what changed, what failed and why. A Tracker ends as a Result."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping

from .result import ExitCode, HostStats, Result, TaskRef

# Tasks that check input or a precondition and change nothing: when every failure of a run is
# one of these and no task changed anything, the run was refused (ExitCode.BAD_INPUT).
VALIDATION_ACTIONS = frozenset(
    {
        "mlflow_provision.tracking.validate_input",
        "validate_input",
        # A secret in use that the store lacks: refused before anything is made or changed.
        "mlflow_provision.tracking.secrets",
        "ansible.builtin.validate_argument_spec",
        "validate_argument_spec",
        "ansible.builtin.assert",
        "assert",
        "ansible.builtin.fail",
        "fail",
    }
)
HIDDEN = "(output hidden: the task has no_log)"
# A failure's message is cut here: the JSON and the terminal want the cause, not a log.
MESSAGE_LIMIT = 2000
_TASK_START = {"playbook_on_task_start", "playbook_on_handler_task_start"}
# ansible-playbook's stats keys -> HostStats fields.
_STATS_KEYS = {
    "ok": "ok",
    "changed": "changed",
    "failures": "failed",
    "dark": "unreachable",
    "skipped": "skipped",
    "rescued": "rescued",
    "ignored": "ignored",
}


def _hidden(res: Mapping) -> bool:
    return bool(res.get("censored")) or bool(res.get("_ansible_no_log"))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _says_changed(event: Mapping) -> bool:
    """What Ansible printed for the result ("changed: [host]..."): ansible-runner drops the
    whole result of a no_log task, its `changed` too, but not the line it printed."""
    return _ANSI.sub("", str(event.get("stdout") or "")).lstrip().startswith("changed:")


def _changed(event: Mapping, res: Mapping) -> bool:
    if "changed" in res or not _hidden(res):
        return bool(res.get("changed"))
    return _says_changed(event)


def _lines(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(line) for line in value]
    return str(value).splitlines()


def message_of(res: Mapping) -> str:
    """What a failed (or unreachable) task says, short: its msg, else the command's stderr or
    stdout tail, with the failed loop items' own messages."""
    if _hidden(res):
        return HIDDEN
    lines = _lines(res.get("msg"))
    for item in res.get("results") or []:
        if isinstance(item, Mapping) and item.get("failed"):
            label = item.get("_ansible_item_label", item.get("item", ""))
            detail = HIDDEN if _hidden(item) else " ".join(_lines(message_of(item)))
            lines.append(f"item {label}: {detail}")
    output = _lines(res.get("stderr")) or _lines(res.get("stdout"))
    if output:
        if "rc" in res:
            lines.append(f"rc={res['rc']}")
        lines += output[-15:]
    text = "\n".join(line for line in lines if line.strip())
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 3] + "..."
    return text


class Tracker:
    """Feed it every runner event (`handle`); `finish` gives the Result."""

    def __init__(self, command: str, clock: Callable[[], float] = time.monotonic):
        self.command = command
        self._clock = clock
        self.started = clock()
        self.play = ""
        self.task = ""
        self.action = ""
        self.hosts: dict[str, HostStats] = {}
        self.changed: list[TaskRef] = []
        self.recovered: list[TaskRef] = []
        self._failed: dict[str, list[TaskRef]] = {}
        self._unreachable: dict[str, TaskRef] = {}
        # Hosts that ran a task after a failure: the failure was rescued.
        self._after_failure: set[str] = set()
        self._final_stats: dict[str, HostStats] | None = None
        self._errors: list[str] = []
        # (host, task uuid) of loop items that changed: a no_log loop's own result says nothing.
        self._items_changed: set[tuple[str, str]] = set()

    @property
    def elapsed(self) -> float:
        return self._clock() - self.started

    def _stats(self, host: str) -> HostStats:
        return self.hosts.setdefault(host, HostStats())

    def _ref(
        self, data: Mapping, message: str = "", hidden: bool = False, kind: str = ""
    ) -> TaskRef:
        return TaskRef(
            host=str(data.get("host", "")),
            play=str(data.get("play", self.play)),
            task=str(data.get("task", self.task)),
            action=str(data.get("resolved_action") or data.get("task_action") or self.action),
            message=message,
            hidden=hidden,
            kind=kind,
        )

    def handle(self, event: Mapping) -> None:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        res = data.get("res") if isinstance(data.get("res"), Mapping) else {}
        host = data.get("host")
        if kind == "playbook_on_play_start":
            self.play, self.task, self.action = data.get("name", ""), "", ""
        elif kind in _TASK_START:
            self.task = data.get("name") or data.get("task", "")
            self.action = data.get("resolved_action") or data.get("task_action", "")
        elif kind == "runner_on_ok" and host:
            stats = self._stats(host)
            stats.ok += 1
            self._ran(host)
            changed = _changed(event, res) or (
                _hidden(res) and (host, data.get("task_uuid")) in self._items_changed
            )
            if changed:
                stats.changed += 1
                self.changed.append(self._ref(data, kind="changed", hidden=_hidden(res)))
        elif kind == "runner_on_failed" and host:
            stats = self._stats(host)
            if data.get("ignore_errors"):
                stats.ignored += 1
                self.recovered.append(self._ref(data, message_of(res), _hidden(res), "ignored"))
            else:
                stats.failed += 1
                ref = self._ref(data, message_of(res), _hidden(res), "failed")
                self._failed.setdefault(host, []).append(ref)
                self._after_failure.discard(host)
        elif kind == "runner_item_on_ok" and host and _changed(event, res):
            self._items_changed.add((host, data.get("task_uuid")))
        elif kind == "runner_on_skipped" and host:
            self._stats(host).skipped += 1
            self._ran(host)
        elif kind == "runner_on_unreachable" and host:
            self._stats(host).unreachable += 1
            self._unreachable[host] = self._ref(data, message_of(res), False, "unreachable")
        elif kind == "playbook_on_stats":
            self._final_stats = {}
            for key, field_name in _STATS_KEYS.items():
                for name, count in (data.get(key) or {}).items():
                    setattr(self._final_stats.setdefault(name, HostStats()), field_name, count)
        elif kind in {"verbose", "error"} and event.get("stdout"):
            # Ansible's own errors (a playbook that does not parse, no inventory) come as text.
            self._errors += [line for line in event["stdout"].splitlines() if line.strip()]

    def failure_message(self, host: str) -> str:
        """The message of the host's latest failure (hidden when the task has no_log)."""
        refs = self._failed.get(host)
        return refs[-1].message if refs else ""

    def _ran(self, host: str) -> None:
        if self._failed.get(host):
            self._after_failure.add(host)

    def _failures(self) -> tuple[list[TaskRef], list[TaskRef]]:
        """(failures, rescued): per host, the failure that stopped it; earlier ones were rescued."""
        failures, rescued = [], []
        for host, refs in self._failed.items():
            if self._final_stats is not None:
                stopped = self._final_stats.get(host, HostStats()).failed > 0
            else:
                stopped = host not in self._after_failure
            for index, ref in enumerate(refs):
                if stopped and index == len(refs) - 1:
                    failures.append(ref)
                else:
                    ref.kind = "rescued"
                    rescued.append(ref)
        return failures, rescued

    def finish(self, rc: int, cancelled: bool = False, data: dict | None = None) -> Result:
        failures, rescued = self._failures()
        unreachable = list(self._unreachable.values())
        hosts = self._final_stats if self._final_stats is not None else self.hosts
        last = (
            TaskRef(host="", play=self.play, task=self.task, action=self.action)
            if self.task
            else None
        )
        if cancelled:
            code = ExitCode.CANCELLED
        elif failures:
            refused = not self.changed and all(ref.action in VALIDATION_ACTIONS for ref in failures)
            code = ExitCode.BAD_INPUT if refused else ExitCode.FAILED
        elif unreachable:
            code = ExitCode.UNREACHABLE
        elif rc != 0:
            code = ExitCode.ERROR
        else:
            code = ExitCode.SUCCESS
        error = "\n".join(self._errors[-20:]) if code == ExitCode.ERROR else ""
        if code == ExitCode.ERROR and not error:
            error = f"ansible-playbook exited with {rc}"
        return Result(
            command=self.command,
            exit_code=code,
            duration=self.elapsed,
            hosts=hosts,
            changed_tasks=self.changed,
            failures=failures + unreachable,
            recovered=rescued + self.recovered,
            last_task=last,
            data=data,
            error=error,
        )
