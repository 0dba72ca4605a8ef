"""What a person sees: progress while the playbook runs (a live line on a terminal, plain lines
otherwise), then a summary table, the failures and, for `status`, the status table."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from . import collection
from .events import Tracker
from .result import ExitCode, Result

_RESULT_EVENTS = {
    "runner_on_ok",
    "runner_on_failed",
    "runner_on_skipped",
    "runner_on_unreachable",
}
_TASK_START = {"playbook_on_task_start", "playbook_on_handler_task_start"}
_NEXT_STEP = {
    ExitCode.FAILED: (
        "Fix the cause and run the same command again: the roles pick up where it stopped."
    ),
    ExitCode.BAD_INPUT: "Nothing was changed. Fix the variables named above and run it again.",
    ExitCode.UNREACHABLE: "Check the connection to the hosts above (address, SSH user and key).",
    ExitCode.DEGRADED: "It serves, with less than it has: see each host's verdict above.",
    ExitCode.DOWN: (
        "MLflow is not served to its clients: see each host's verdict above, and the journal of "
        "the units it names on the host (journalctl -u 'mlflow@*' -u nginx)."
    ),
    ExitCode.CANCELLED: (
        "Cancelled: the running task was stopped. Run the same command again to finish: an "
        "interrupted upgrade is rolled back first."
    ),
}


def _counts(tracker: Tracker) -> str:
    parts = []
    for host, stats in sorted(tracker.hosts.items()):
        text = f"{host} ok={stats.ok} changed={stats.changed}"
        if stats.failed:
            text += f" failed={stats.failed}"
        if stats.unreachable:
            text += f" unreachable={stats.unreachable}"
        parts.append(text)
    return "  ".join(parts)


class Progress:
    """Follows the events of one run. `live`: a rich live line (a terminal), else plain lines."""

    def __init__(
        self,
        command: str,
        stream: TextIO | None = None,
        live: bool | None = None,
        verbose: bool = False,
    ):
        self.tracker = Tracker(command)
        stream = stream or sys.stdout
        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self.live = self.console.is_terminal if live is None else live
        self.verbose = verbose
        self._live: Live | None = None

    def __enter__(self):
        if self.live:
            self._live = Live(
                self._line(),
                console=self.console,
                refresh_per_second=4,
                transient=True,
                get_renderable=self._line,
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def _line(self):
        tracker = self.tracker
        head = Text.assemble(
            (f"{tracker.elapsed:6.0f}s ", "dim"),
            (tracker.play or "starting", "bold"),
            (" > " if tracker.task else "", "dim"),
            tracker.task,
        )
        return Group(head, Text(_counts(tracker), style="dim"))

    def _say(self, text: str, style: str = "") -> None:
        stamp = f"[{self.tracker.elapsed:5.0f}s] "
        if self.live:
            self.console.print(Text(stamp, "dim") + Text(text, style))
        else:
            self.console.print(stamp + text, markup=False, style=None)

    def __call__(self, event: Mapping) -> None:
        self.tracker.handle(event)
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self._say(f"PLAY {data.get('name', '')}", "bold")
        elif kind in _TASK_START and not self.live:
            self._say(f"TASK {data.get('name') or data.get('task', '')}")
        elif kind in _RESULT_EVENTS:
            self._result(kind, data)

    def _result(self, kind: str, data: Mapping) -> None:
        host, task = data.get("host", ""), data.get("task", "")
        res = data.get("res") if isinstance(data.get("res"), Mapping) else {}
        if kind == "runner_on_failed" and not data.get("ignore_errors"):
            # The tracker has seen the event first: it holds the message (hidden when no_log).
            # First line only: the summary at the end shows the whole message.
            first, *more = self.tracker.failure_message(host).splitlines() or [""]
            self._say(f"FAILED {host} | {task}: {first}{' (...)' if more else ''}", "bold red")
        elif kind == "runner_on_unreachable":
            self._say(f"UNREACHABLE {host} | {task}", "bold red")
        elif self.verbose:
            word = {
                "runner_on_ok": "changed" if res.get("changed") else "ok",
                "runner_on_skipped": "skipped",
                "runner_on_failed": "ignored",
            }[kind]
            self._say(f"{word} {host} | {task}", "yellow" if word == "changed" else "dim")


def summary(result: Result, stream: TextIO | None = None) -> None:
    """The table of hosts, the failures with their messages, the status table, the last line."""
    console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
    if result.hosts:
        table = Table(title=None, box=None, pad_edge=False, header_style="bold")
        for name in ("host", "ok", "changed", "failed", "unreachable", "skipped", "rescued"):
            table.add_column(name, justify="left" if name == "host" else "right")
        for host, stats in sorted(result.hosts.items()):
            table.add_row(
                host,
                str(stats.ok),
                str(stats.changed),
                str(stats.failed),
                str(stats.unreachable),
                str(stats.skipped),
                str(stats.rescued),
            )
        console.print(table)
    for failure in result.failures:
        console.print(
            Text(
                f"\n{failure.kind.upper()}: {failure.host} | {failure.play} | {failure.task}",
                "bold red",
            )
        )
        console.print(Text(_indent(failure.message)))
    if result.data:
        console.print()
        lines = secret_lines if result.command == "secrets" else status_lines
        for line in lines(result.data):
            console.print(line, markup=False, highlight=False)
    if result.verdict:
        hosts = result.verdict["hosts"]
        healthy = sum(entry["verdict"] == "healthy" for entry in hosts.values())
        console.print(
            Text(
                f"\noverall: {result.verdict['overall'].upper()}"
                f" ({healthy} of {len(hosts)} host{'s' if len(hosts) != 1 else ''} healthy)",
                "bold green" if result.verdict["overall"] == "healthy" else "bold red",
            )
        )
    console.print()
    verdict = f"{result.command}: {result.status} in {result.duration:.1f} s"
    if result.exit_code == ExitCode.CANCELLED and result.last_task:
        verdict += f", during '{result.last_task.task}' ({result.last_task.play})"
    style = "bold green" if result.ok else "bold red"
    console.print(Text(verdict, style))
    if result.error:
        console.print(Text(result.error))
    if result.exit_code in _NEXT_STEP:
        console.print(Text(_NEXT_STEP[result.exit_code], "dim"))


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in (text or "(no message)").splitlines())


def secret_lines(data: Mapping) -> list[str]:
    """Per host, each generated secret: its name, whether the store has it, where it lives."""
    lines = []
    for host, found in sorted(data.items()):
        if found is None:
            lines.append(f"{host}: not read (the host failed or was unreachable)")
            continue
        lines.append(f"{host}:" + ("" if found else " no generated secret"))
        width = max((len(item["name"]) for item in found), default=0)
        for item in found:
            state = "stored " if item.get("state") == "present" else "MISSING"
            lines.append(f"  {item['name']:<{width}}  {state}  {item['where']}")
    return lines


def status_lines(data: Mapping) -> list[str]:
    """The status table of each host, by the collection's own filter (playbooks/status.yml)."""
    filters = collection.status_filters()
    lines = []
    for host, status in sorted(data.items()):
        if not status:
            lines.append(f"{host}: no status (the host failed or was unreachable)")
            lines.append("  verdict      DOWN: no status")
            continue
        lines += filters.mlflow_status_lines(host, status.get("mlflow") or {}, status.get("nginx"))
    return lines
