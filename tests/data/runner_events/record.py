"""Renew the recorded events next to this file: python tests/data/runner_events/record.py
(from the clone, with .venv/bin first on PATH). Each <name>.jsonl holds one run's events."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "src"))

from mlflow_provision import run_playbook  # noqa: E402


def record(name, playbook, **options):
    events = []
    result = run_playbook(name, playbook, on_event=events.append, **options)
    with open(HERE / f"{name}.jsonl", "w") as out:
        for event in events:
            if event["event"] not in {"verbose", "error"}:
                event.pop("stdout", None)
            out.write(json.dumps(event, sort_keys=True) + "\n")
    print(name, result.status, len(events), "events")


def main():
    local = HERE / "hosts.yml"
    python = {"ansible_python_interpreter": sys.executable}
    record("mixed", HERE / "mixed.yml", inventory=str(local), extravars=python)

    started = []

    def note(event):
        if event.get("event") == "playbook_on_task_start":
            started.append(event["event_data"]["name"])

    events = []
    result = run_playbook(
        "cancelled",
        HERE / "cancelled.yml",
        inventory=str(local),
        limit="h1",
        extravars=python,
        on_event=lambda e: (events.append(e), note(e)),
        cancel=lambda: "Sleep long" in started,
    )
    with open(HERE / "cancelled.jsonl", "w") as out:
        for event in events:
            event.pop("stdout", None)
            out.write(json.dumps(event, sort_keys=True) + "\n")
    print("cancelled", result.status, len(events), "events")

    # The real preflight refusing two variables (no host is touched).
    record(
        "bad_input",
        "validate",
        inventory=str(HERE.parents[2] / "inventories/local"),
        extravar_args=["mlflow_server_backend=oracle", '{"nginx_tls_https_port": 70000}'],
    )


if __name__ == "__main__":
    main()
