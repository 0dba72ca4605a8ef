"""The app provision-auth (roles/mlflow_server/files/mlflow_provision_auth): MLflow's basic-auth
app with `_run_requirement`'s answers kept. Its behaviour with MLflow's real app and grants is
tested in scenario mlflow_auth; here the keeping itself."""

import importlib.util
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "roles/mlflow_server/files/mlflow_provision_auth/mlflow_provision_auth.py"
spec = importlib.util.spec_from_file_location("mlflow_provision_auth", SOURCE)
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)


def _store(runs):
    calls = []

    def _run_requirement(run_id, action):
        calls.append((run_id, action))
        if run_id not in runs:
            return None
        experiment = ("experiment", runs[run_id])
        return experiment, [("experiment", runs[run_id], "read"), ("run", "*", action)]

    return _run_requirement, calls


def test_a_runs_answer_is_kept_and_each_caller_gets_its_own_list():
    original, calls = _store({"r1": "7"})
    kept = app.RunRequirements(original)
    anchor, first = kept("r1", "update")
    first.append(("logged_model", "*", "update"))  # as MLflow's log-metric check does
    assert kept("r1", "update") == (
        ("experiment", "7"),
        [("experiment", "7", "read"), ("run", "*", "update")],
    )
    assert calls == [("r1", "update")]
    kept("r1", "read")
    assert calls == [("r1", "update"), ("r1", "read")]
    assert anchor == ("experiment", "7")


def test_a_missing_run_is_asked_again():
    runs = {}
    original, calls = _store(runs)
    kept = app.RunRequirements(original)
    assert kept("r2", "update") is None
    runs["r2"] = "8"
    assert kept("r2", "update")[0] == ("experiment", "8")
    assert len(calls) == 2


def test_the_oldest_answers_go_first():
    original, calls = _store({f"r{i}": str(i) for i in range(4)})
    kept = app.RunRequirements(original, size=2)
    for run in ("r0", "r1", "r0", "r2"):
        kept(run, "update")
    calls.clear()
    kept("r0", "update")
    kept("r1", "update")
    assert calls == [("r1", "update")]


def test_installed_only_over_the_function_it_knows():
    original, _ = _store({})
    auth = types.SimpleNamespace(_run_requirement=original)
    assert app.install(auth) is True
    assert isinstance(auth._run_requirement, app.RunRequirements)
    assert app.install(auth) is True  # once
    assert not isinstance(auth._run_requirement._original, app.RunRequirements)

    def other(run_id, action, workspace):
        return None

    changed = types.SimpleNamespace(_run_requirement=other)
    assert app.install(changed) is False and changed._run_requirement is other
    assert app.install(types.SimpleNamespace()) is False
