"""The front end's view of a run: recorded ansible-runner events (tests/data/runner_events,
renewed by record.py there) -> progress lines, summary, JSON and exit codes; then the API and
the CLI with the real ansible-runner on this machine (local connection, no host needed)."""

import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mlflow_provision import ExitCode, run_playbook
from mlflow_provision.api import judge
from mlflow_provision.cli import main
from mlflow_provision.events import HIDDEN, Tracker, message_of
from mlflow_provision.render import Progress, summary
from mlflow_provision.result import Result

DATA = Path(__file__).parent / "data" / "runner_events"
LOCAL = DATA / "hosts.yml"
PYTHON = {"ansible_python_interpreter": sys.executable}
# A no_log task of mixed.yml sets it; echo.yml gets it through a variables file.
PLANTED = "PLANTED-SECRET-42"


def _events(name):
    return [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text().splitlines()]


def _tracked(name, rc=2, cancelled=False):
    tracker = Tracker(name)
    for event in _events(name):
        tracker.handle(event)
    return tracker.finish(rc, cancelled=cancelled)


def _rendered(name, **options):
    out = io.StringIO()
    progress = Progress(name, stream=out, live=False, **options)
    for event in _events(name):
        progress(event)
    return out.getvalue()


def _summary(result):
    out = io.StringIO()
    summary(result, stream=out)
    return out.getvalue()


# --- Recorded events ---------------------------------------------------------------------------


def test_mixed_run_counts_and_failures():
    result = _tracked("mixed")
    assert result.exit_code == ExitCode.FAILED
    assert result.status == "failed"
    stats = result.hosts
    assert (stats["h1"].ok, stats["h1"].changed, stats["h1"].failed) == (6, 1, 1)
    assert (stats["h2"].ok, stats["h2"].failed, stats["h2"].skipped) == (7, 0, 2)
    assert stats["gone"].unreachable == 1
    assert (stats["h1"].rescued, stats["h1"].ignored) == (1, 1)
    failed = [(ref.kind, ref.host, ref.task) for ref in result.failures]
    assert failed == [
        ("failed", "h1", "Fail for real"),
        ("unreachable", "gone", "Change something"),
    ]
    assert result.failures[0].message == "mlflow_server_port: 99999 is not a port"
    assert result.failures[0].action == "ansible.builtin.fail"
    assert "192.0.2.1" in result.failures[1].message
    recovered = sorted((ref.kind, ref.host, ref.task) for ref in result.recovered)
    assert recovered == [
        ("ignored", "h1", "Ignored"),
        ("ignored", "h2", "Ignored"),
        ("rescued", "h1", "Fail inside block"),
        ("rescued", "h2", "Fail inside block"),
    ]
    assert sorted((ref.host, ref.task) for ref in result.changed_tasks) == [
        ("h1", "Change something"),
        ("h2", "Change something"),
    ]


def test_json_document_holds_the_run_and_no_secret():
    document = _tracked("mixed").to_dict()
    text = json.dumps(document)
    assert PLANTED not in text
    assert document["command"] == "mixed"
    assert document["exit_code"] == 2
    assert document["hosts"]["h1"]["failed"] == 1
    assert document["failures"][0]["message"] == "mlflow_server_port: 99999 is not a port"
    assert document["last_task"]["task"] == "Last task"
    assert "data" not in document and "error" not in document


def test_progress_lines_name_plays_tasks_and_failures():
    lines = _rendered("mixed").splitlines()
    assert any(line.endswith("PLAY Recorded play") for line in lines)
    assert any(line.endswith("TASK Secret task") for line in lines)
    assert any(
        line.endswith("FAILED h1 | Fail for real: mlflow_server_port: 99999 is not a port")
        for line in lines
    )
    assert any(line.endswith("UNREACHABLE gone | Change something") for line in lines)
    # Results of tasks that went well are only shown with -v.
    assert not any("changed h1" in line for line in lines)
    verbose = _rendered("mixed", verbose=True)
    assert "changed h1 | Change something" in verbose
    assert "skipped h2 | Skip on one" in verbose
    assert "ignored h1 | Ignored" in verbose
    assert PLANTED not in verbose


def test_live_progress_draws_without_a_terminal_line_per_task():
    out = io.StringIO()
    progress = Progress("mixed", stream=out, live=True)
    progress.console.force_terminal = True
    with progress:
        for event in _events("mixed"):
            progress(event)
    text = out.getvalue()
    assert "PLAY Recorded play" in text
    assert "FAILED h1 | Fail for real" in text
    assert "TASK Say ok" not in text


def test_summary_shows_table_failures_and_next_step():
    text = _summary(_tracked("mixed"))
    assert "host" in text and "unreachable" in text
    row = next(line for line in text.splitlines() if line.startswith("h1 "))
    assert row.split() == ["h1", "6", "1", "1", "0", "1", "1"]
    assert "FAILED: h1 | Recorded play | Fail for real" in text
    assert "  mlflow_server_port: 99999 is not a port" in text
    assert "UNREACHABLE: gone" in text
    assert "mixed: failed in" in text
    assert "run the same command again" in text


def test_bad_input_from_the_real_preflight():
    result = _tracked("bad_input")
    assert result.exit_code == ExitCode.BAD_INPUT
    [failure] = result.failures
    assert failure.action == "mlflow_provision.tracking.validate_input"
    assert "mlflow_server_backend must be one of" in failure.message
    assert "nginx_tls_https_port: 70000 is not a TCP port" in failure.message
    assert "Nothing was changed" in _summary(result)


def test_cancelled_run_says_what_was_done():
    result = _tracked("cancelled", rc=254, cancelled=True)
    assert result.exit_code == ExitCode.CANCELLED == 130
    assert result.status == "cancelled"
    assert result.last_task.task == "Sleep long"
    assert result.hosts["h1"].changed == 1
    text = _summary(result)
    assert "cancelled in" in text and "during 'Sleep long' (Cancelled play)" in text
    assert "Run the same command again to finish" in text


def _event(kind, host="h1", task="t", action="ansible.builtin.command", **data):
    return {
        "event": kind,
        "event_data": {"host": host, "task": task, "play": "p", "resolved_action": action, **data},
    }


@pytest.mark.parametrize(
    ("events", "rc", "code"),
    [
        ([_event("runner_on_ok", res={"changed": False})], 0, ExitCode.SUCCESS),
        # ignore_errors: the run went on and succeeded.
        ([_event("runner_on_failed", ignore_errors=True, res={"msg": "x"})], 0, ExitCode.SUCCESS),
        ([_event("runner_on_unreachable", res={"msg": "no route"})], 4, ExitCode.UNREACHABLE),
        # A check that fails after something changed is no longer "nothing changed".
        (
            [
                _event("runner_on_ok", res={"changed": True}),
                _event("runner_on_failed", action="ansible.builtin.fail", res={"msg": "no"}),
            ],
            2,
            ExitCode.FAILED,
        ),
        (
            [_event("runner_on_failed", action="ansible.builtin.fail", res={"msg": "x_y: bad"})],
            2,
            ExitCode.BAD_INPUT,
        ),
        ([_event("runner_on_failed", res={"msg": "boom"})], 2, ExitCode.FAILED),
        # ansible-playbook could not start (a playbook that does not parse): its text is kept.
        ([{"event": "verbose", "stdout": "[ERROR]: could not parse"}], 4, ExitCode.ERROR),
    ],
)
def test_exit_codes(events, rc, code):
    tracker = Tracker("x")
    for event in events:
        tracker.handle(event)
    result = tracker.finish(rc)
    assert result.exit_code == code
    if code == ExitCode.ERROR:
        assert result.error == "[ERROR]: could not parse"


def test_changes_of_no_log_tasks_are_listed_without_their_output():
    """ansible-runner drops a no_log task's whole result, `changed` too: the line Ansible
    printed for it still says so (and for a loop, its items' lines)."""
    censored = {"censored": "hidden"}
    tracker = Tracker("x")
    for event in (
        {
            **_event("runner_on_ok", task="secret", res=censored),
            "stdout": "\x1b[0;33mchanged: [h1]\x1b[0m",
        },
        {**_event("runner_on_ok", task="same", res=censored), "stdout": "ok: [h1]"},
        {
            **_event("runner_item_on_ok", task="loop", task_uuid="u1", res=censored),
            "stdout": "changed: [h1] => (item=None)",
        },
        _event("runner_on_ok", task="loop", task_uuid="u1", res=censored),
        _event("runner_on_ok", task="plain", res={"changed": True}),
    ):
        tracker.handle(event)
    result = tracker.finish(0)
    assert [(t.task, t.hidden) for t in result.changed_tasks] == [
        ("secret", True),
        ("loop", True),
        ("plain", False),
    ]
    assert result.hosts["h1"].changed == 3


def test_failure_messages():
    assert message_of({"censored": "hidden", "changed": False}) == HIDDEN
    assert message_of({"msg": ["a", "b"]}) == "a\nb"
    text = message_of(
        {"msg": "non-zero return code", "rc": 1, "stderr": "\n".join(map(str, range(40)))}
    )
    assert text.splitlines()[:2] == ["non-zero return code", "rc=1"]
    assert text.splitlines()[-1] == "39" and "24" not in text.splitlines()
    looped = message_of(
        {
            "msg": "One or more items failed",
            "results": [
                {"failed": True, "item": "a", "msg": "bad a"},
                {"failed": False, "item": "b", "msg": "fine"},
                {"failed": True, "item": "c", "_ansible_no_log": True, "msg": PLANTED},
            ],
        }
    )
    assert looped.splitlines() == ["One or more items failed", "item a: bad a", f"item c: {HIDDEN}"]
    assert len(message_of({"msg": "x" * 5000})) == 2000


# --- The real ansible-runner -------------------------------------------------------------------


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The API's temporary directories go here, so the test sees what a run leaves behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _local(name, playbook, **options):
    """run_playbook on this machine's host h1 (local connection, this Python)."""
    return run_playbook(
        name, DATA / playbook, inventory=str(LOCAL), limit="h1", extravars=PYTHON, **options
    )


@pytest.mark.parametrize(
    ("order", "wins"),
    [
        (["mp_value=first", "@SECRETS", '{"mp_value": "last"}'], "last"),
        (['{"mp_value": "json"}', "mp_value=kv", "@SECRETS"], "from-file"),
    ],
)
def test_api_extra_vars_in_order_and_secret_nowhere(private_tmp, tmp_path_factory, order, wins):
    secrets = tmp_path_factory.mktemp("vars") / "secrets.yml"
    secrets.write_text(f"mp_secret: {PLANTED}\nmp_value: from-file\n")
    events = []
    result = _local(
        "echo",
        "echo.yml",
        extravar_args=[f"@{secrets}" if item == "@SECRETS" else item for item in order],
        on_event=events.append,
    )
    assert result.exit_code == ExitCode.SUCCESS, result.to_dict()
    said = [
        e["event_data"]["res"]["msg"]
        for e in events
        if e["event"] == "runner_on_ok" and e["event_data"]["task"] == "Say the value"
    ]
    assert said == [f"value={wins}"]
    assert PLANTED not in json.dumps(events) + json.dumps(result.to_dict())
    # The private directory (variables, runner's artifacts) is gone.
    assert list(private_tmp.iterdir()) == []


def test_api_cancel_callback_stops_the_run(private_tmp):
    started = []

    def follow(event):
        if event["event"] == "playbook_on_task_start":
            started.append(event["event_data"]["name"])

    result = _local(
        "cancelled", "cancelled.yml", on_event=follow, cancel=lambda: "Sleep long" in started
    )
    assert result.exit_code == ExitCode.CANCELLED
    assert result.duration < 15  # the task sleeps 60 s
    assert result.last_task.task == "Sleep long"
    assert list(private_tmp.iterdir()) == []
    # Nothing of it runs on: not ansible-playbook, not its worker (its own session), not the
    # `sleep` the worker started.
    time.sleep(0.5)
    left = subprocess.run(
        # Exactly the task's `sleep 60` (not another process's `sleep 600`).
        ["pgrep", "-f", r"cancelled\.yml|^sleep 60$"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert left.stdout == ""


def test_cli_exit_codes_and_json(capsys, tmp_path):
    assert main(["--help"]) == 0
    assert "Exit codes" in capsys.readouterr().out
    assert main(["restore", "-i", str(LOCAL)]) == ExitCode.BAD_INPUT
    assert "give one of --backup NAME or --from DIR" in capsys.readouterr().err
    assert main(["deploy", "--no-such-option"]) == ExitCode.BAD_INPUT
    capsys.readouterr()
    assert main(["status", "--json", "-i", str(tmp_path / "missing")]) == ExitCode.BAD_INPUT
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "bad_input" and "missing does not exist" in document["error"]
    assert main(["destroy", "-i", str(LOCAL)]) == ExitCode.BAD_INPUT
    assert "--yes" in capsys.readouterr().err


def test_destroy_keeps_the_data_unless_asked(monkeypatch):
    from mlflow_provision import api

    calls = []
    monkeypatch.setattr(api, "run_playbook", lambda *a, **kw: calls.append((a, kw)))
    api.destroy(inventory="inv")
    api.destroy(with_data=True, inventory="inv", extravar_args=["x=1"])
    assert calls[0] == (("destroy", "destroy_azure"), {"inventory": "inv"})
    # The command's own variable last: it wins over the user's -e.
    assert calls[1][1]["extravar_args"] == ["x=1", {"azure_vm_destroy_data": True}]
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["destroy", "--with-data", "-i", str(LOCAL)]) == ExitCode.BAD_INPUT


@pytest.mark.parametrize(
    "ran, statuses, code, overall",
    [
        (ExitCode.SUCCESS, {"a": "healthy"}, ExitCode.SUCCESS, "healthy"),
        (ExitCode.SUCCESS, {"a": "healthy", "b": "one-down"}, ExitCode.DEGRADED, "degraded"),
        (ExitCode.SUCCESS, {"a": "down"}, ExitCode.DOWN, "down"),
        # An unreachable host is one that does not serve; the other still does.
        (ExitCode.UNREACHABLE, {"a": "healthy", "b": None}, ExitCode.DEGRADED, "degraded"),
        (ExitCode.UNREACHABLE, {"a": None}, ExitCode.DOWN, "down"),
        # A run that was cancelled keeps its own code.
        (ExitCode.CANCELLED, {"a": "down"}, ExitCode.CANCELLED, "down"),
    ],
)
def test_status_exit_code_and_json_carry_the_verdict(ran, statuses, code, overall):
    up = {"health": "OK", "error": None}
    refused = {"health": None, "error": "Connection refused"}
    instances = {
        "healthy": {"5000": up, "5001": up},
        "one-down": {"5000": up, "5001": refused},
        "down": {"5000": refused, "5001": refused},
    }
    nginx = {"state": "active", "balancer": {"status": 200}}
    data = {
        host: None if kind is None else {"mlflow": {"instances": instances[kind]}, "nginx": nginx}
        for host, kind in statuses.items()
    }
    result = judge(Result("status", ran, 1.0, data=data))
    assert (result.exit_code, result.verdict["overall"]) == (code, overall)
    document = result.to_dict()
    assert document["verdict"]["overall"] == overall and document["exit_code"] == int(code)
    out = io.StringIO()
    summary(result, out)
    assert f"overall: {overall.upper()}" in out.getvalue()
    assert out.getvalue().count("  verdict      ") == len(statuses)
