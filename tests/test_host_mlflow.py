"""The subcommands of `mlflow-host` that need MLflow, SQLAlchemy, a driver or the Azure SDK, run
the way the hosts run them: the command roles/mlflow_server/files/mlflow-host, in a process of
its own, with a venv of the MLflow and packages the role installs (.cache/host-venv, built by
`make setup` from the role's defaults), the database URI in the environment. SQLite here;
MySQL and PostgreSQL servers, Azurite and managed identity in molecule (scenarios mysql,
postgres, azure_blob)."""

import json
import os
import sqlite3
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import ROOT

PYTHON = ROOT / ".cache/host-venv/bin/python"
COMMAND = ROOT / "roles/mlflow_server/files/mlflow-host"
SECRET = "s3cret-pw"
# Azurite's well-known development key: any base64 key signs requests.
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _host(*argv, env, timeout=120):
    """mlflow-host ARGV as the role's tasks run it: this venv's python, only these variables."""
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: `make setup` builds it (the host venv of the tests)")
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(PYTHON), str(COMMAND), *map(str, argv)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Empty SQLite databases for MLflow and its auth app, as a fresh host has them."""
    root = tmp_path_factory.mktemp("host")
    ini = root / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{root}/basic_auth.db\n"
        "admin_username = admin\nadmin_password = password1234\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    env = {
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{root}/mlflow.db",
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
    }
    return {"root": root, "env": env}


def test_db_upgrade_creates_both_schemas_at_the_heads_inspect_reports(server):
    out = _host("db-upgrade", env=server["env"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "database schema is at the head revision of this MLflow version",
        "auth database schema is at the head revision of this MLflow version",
    ]
    again = _host("db-upgrade", env=server["env"])
    assert again.returncode == 0, again.stderr

    out = _host("inspect", "--backups", server["root"] / "backups", env=server["env"])
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["mlflow_version"] == _role_mlflow_version()
    for role in ("database", "auth"):
        database = report["databases"][role]
        assert database["kind"] == "sqlite" and database["at_head"], database
        assert database["revision"] and database["bytes"] > 0
    assert report["backups"]["count"] == 0


def test_db_upgrade_without_a_uri_exits_2():
    out = _host("db-upgrade", env={})
    assert out.returncode == 2
    assert "MLFLOW_BACKEND_STORE_URI is not set" in out.stderr


def test_db_check_connects_or_names_the_problem_without_the_password(server):
    out = _host("db-check", env=server["env"])
    assert (out.returncode, out.stdout.strip()) == (
        0,
        f"database SQLite file {server['root']}/mlflow.db: connected",
    )
    # Nothing listens on port 1: the driver's refusal, classified; the password never shown.
    for uri, where in [
        (f"mysql+pymysql://mlflow:{SECRET}@127.0.0.1:1/mlflow", "mysql database 'mlflow'"),
        (f"postgresql+psycopg2://mlflow:{SECRET}@127.0.0.1:1/mlflow", "postgresql database"),
    ]:
        out = _host("db-check", env={"MLFLOW_BACKEND_STORE_URI": uri})
        assert out.returncode == 1, out.stdout + out.stderr
        assert out.stdout.startswith(f"database {where}"), out.stdout
        assert "at 127.0.0.1:1 as 'mlflow': host unreachable: " in out.stdout
        assert SECRET not in out.stdout + out.stderr
    out = _host("db-check", env={})
    assert (out.returncode, out.stdout.strip()) == (2, "MLFLOW_BACKEND_STORE_URI is not set")


def test_gc_purges_runs_deleted_longer_ago_and_their_artifacts(server):
    if not (server["root"] / "mlflow.db").exists():
        assert _host("db-upgrade", env=server["env"]).returncode == 0  # this test alone
    artifacts = server["root"] / "artifacts"
    made = subprocess.run(
        [str(PYTHON), "-c", _MAKE_DELETED_RUNS, server["env"]["MLFLOW_BACKEND_STORE_URI"]],
        env={"PATH": os.environ["PATH"], "ARTIFACTS": str(artifacts)},
        capture_output=True,
        text=True,
        check=True,
    )
    old, recent = made.stdout.split()
    out = _host("gc", "30", "http://127.0.0.1:1", env=server["env"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Run with ID {old} has been permanently deleted." in out.stdout
    conn = sqlite3.connect(server["root"] / "mlflow.db")
    try:
        left = {row[0] for row in conn.execute("SELECT run_uuid FROM runs")}
    finally:
        conn.close()
    assert old not in left and recent in left
    assert not (artifacts / "1" / old / "artifacts").exists()
    assert (artifacts / "1" / recent / "artifacts" / "model.txt").is_file()


# Two runs, deleted: one 40 days ago (gc 30 purges it), one now (kept). Prints their IDs.
_MAKE_DELETED_RUNS = """
import os, sqlite3, sys, time
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
store = SqlAlchemyStore(sys.argv[1], os.environ["ARTIFACTS"])
experiment = store.create_experiment("gc")
now = int(time.time() * 1000)
ids = []
for age_days in (40, 0):
    run = store.create_run(experiment, "u", now, [], "r")
    path = run.info.artifact_uri.removeprefix("file://")
    os.makedirs(path)
    open(os.path.join(path, "model.txt"), "w").write("weights")
    store.delete_run(run.info.run_id)
    ids.append((run.info.run_id, now - age_days * 86_400_000))
conn = sqlite3.connect(sys.argv[1].removeprefix("sqlite:///"))
with conn:
    conn.executemany("UPDATE runs SET deleted_time = ? WHERE run_uuid = ?",
                     [(when, run_id) for run_id, when in ids])
print(*(run_id for run_id, _ in ids))
"""


class _BlobService(BaseHTTPRequestHandler):
    """Azure Blob's answers to the check's two requests, by account (the URL's first part):
    `missing` has no container `mlflow` and lets one be created; `raced` has none either but
    another host creates it first; `denied` refuses the key."""

    created: list = []  # noqa: RUF012 (the requests the test reads back)

    def _answer(self, status, code=None):
        body = b""
        if code:
            body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{code}</Message>"
            body = (body + "</Error>").encode()
        self.send_response(status)
        if code:
            self.send_header("x-ms-error-code", code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/denied/"):
            self._answer(403, "AuthenticationFailed")
        else:
            self._answer(404, "ContainerNotFound")

    def do_PUT(self):
        if self.path.startswith("/raced/"):
            self._answer(409, "ContainerAlreadyExists")
            return
        type(self).created.append(self.path)
        self._answer(201)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def blob_endpoint():
    service = ThreadingHTTPServer(("127.0.0.1", 0), _BlobService)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{service.server_port}"
    service.shutdown()


def _connection(endpoint, account):
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={KEY};"
        f"BlobEndpoint={endpoint}/{account};"
    )


def test_artifact_check_says_missing_creates_or_names_the_problem(blob_endpoint):
    uri = "wasbs://mlflow@missing.blob.core.windows.net/artifacts"
    env = {"AZURE_STORAGE_CONNECTION_STRING": _connection(blob_endpoint, "missing")}
    out = _host("artifact-check", uri, env=env)
    assert (out.returncode, out.stdout.strip()) == (
        0,
        "Azure Blob container 'mlflow' of account 'missing': missing",
    ), out.stderr
    assert _BlobService.created == []
    out = _host("artifact-check", uri, "--create-container", env=env)
    assert out.stdout.strip().endswith(": created"), out.stdout + out.stderr
    assert [path.split("?")[0] for path in _BlobService.created] == ["/missing/mlflow"]

    # The other hosts of a cluster ran the same check at the same time, and one created it.
    uri = "wasbs://mlflow@raced.blob.core.windows.net/artifacts"
    env = {"AZURE_STORAGE_CONNECTION_STRING": _connection(blob_endpoint, "raced")}
    out = _host("artifact-check", uri, "--create-container", env=env)
    assert (out.returncode, out.stdout.strip()) == (
        0,
        "Azure Blob container 'mlflow' of account 'raced': reachable",
    ), out.stdout + out.stderr

    uri = "wasbs://mlflow@denied.blob.core.windows.net/artifacts"
    env = {"AZURE_STORAGE_CONNECTION_STRING": _connection(blob_endpoint, "denied")}
    out = _host("artifact-check", uri, env=env)
    assert out.returncode == 1
    assert out.stdout.startswith(
        "Azure Blob container 'mlflow' of account 'denied':"
        " authentication failed (wrong account key or signature): AuthenticationFailed"
    ), out.stdout
    assert KEY not in out.stdout + out.stderr


def _role_mlflow_version():
    import yaml

    defaults = yaml.safe_load((ROOT / "roles/mlflow_server/defaults/main.yml").read_text())
    return defaults["mlflow_server_version"]
