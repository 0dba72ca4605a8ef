"""Role mlflow_server (SQLite backend): the service, its files, and what it answers."""

import json
import os
import time
from pathlib import Path

import pytest
import yaml

# The version the role installs by default (the scenario does not pin one).
VERSION = yaml.safe_load(
    (
        Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "roles/mlflow_server/defaults/main.yml"
    ).read_text()
)["mlflow_server_version"]
VENV = f"/opt/mlflow/venvs/{VERSION}"


def _curl(host, path, *options):
    """HTTP status and body of a request to the server on loopback, from the test host.

    `options` are curl options, already shell-quoted where they need it.
    """
    out = host.run(
        f"curl -s -o /tmp/mp-body -w '%{{http_code}}\\n' {' '.join(options)} 'http://127.0.0.1:5000{path}'"
        " && cat /tmp/mp-body"
    ).stdout
    status, _, body = out.partition("\n")
    return int(status or 0), body


def test_service_account_has_no_login_shell(host):
    user = host.user("mlflow")
    assert user.shell == "/usr/sbin/nologin"
    assert user.home == "/var/lib/mlflow"
    assert user.group == "mlflow"


@pytest.mark.parametrize(
    ("path", "owner", "group", "mode"),
    [
        ("/opt/mlflow", "root", "root", 0o755),
        ("/etc/mlflow", "root", "mlflow", 0o750),
        ("/etc/mlflow/mlflow.env", "root", "root", 0o600),
        ("/etc/mlflow/logging.yaml", "root", "mlflow", 0o640),
        ("/var/lib/mlflow", "mlflow", "mlflow", 0o750),
        ("/var/lib/mlflow/artifacts", "mlflow", "mlflow", 0o750),
        ("/var/log/mlflow", "mlflow", "mlflow", 0o750),
    ],
)
def test_file_owners_and_modes(host, path, owner, group, mode):
    f = host.file(path)
    assert f.exists, path
    assert (f.user, f.group, f.mode) == (owner, group, mode)


def test_current_links_to_the_versioned_venv(host):
    link = host.file("/opt/mlflow/current")
    assert link.is_symlink
    assert link.linked_to == VENV
    out = host.check_output(f"{VENV}/bin/python -c 'import mlflow; print(mlflow.__version__)'")
    assert out == VERSION


def test_venv_holds_the_drivers_and_azure_sdks(host):
    # Imported, not only listed: a broken wheel fails here.
    host.run_expect(
        [0], f"{VENV}/bin/python -c 'import azure.storage.blob, azure.identity, psycopg2, pymysql'"
    )


def test_workers_serve_with_uvloop_and_httptools(host):
    """uvicorn picks its C event loop and HTTP parser when they are installed (twice the req/s)."""
    uvicorn = host.check_output(
        "pgrep -u mlflow -f '^/opt/mlflow/venvs/[^ ]+/bin/python -m uvicorn '"
    )
    workers = host.check_output(f"pgrep -P {uvicorn} -f multiprocessing.spawn").split()
    assert len(workers) == 2
    for pid in workers:
        maps = host.file(f"/proc/{pid}/maps").content_string
        assert "/uvloop/" in maps, pid
        assert "/httptools/" in maps, pid


def test_service_active_enabled_and_healthy(host):
    svc = host.service("mlflow@5000")
    assert svc.is_running
    assert svc.is_enabled
    assert _curl(host, "/health") == (200, "OK")


def test_one_instance_and_the_old_single_service_retired(host):
    """converge.yml left an old release's mlflow.service on port 5000; job execution needs
    mlflow_server_instances 1 (molecule.yml)."""
    assert not host.file("/etc/systemd/system/mlflow.service").exists
    assert host.run("systemctl cat mlflow.service").rc != 0
    assert "http.server" not in host.check_output("ps -eo args")
    units = host.check_output("systemctl list-units 'mlflow@*' --plain --no-legend").split("\n")
    assert [line.split()[0] for line in units if line.strip()] == ["mlflow@5000.service"]
    assert host.service("mlflow.target").is_running


def test_last_good_copy_is_root_only(host):
    """The files the instance was last proven healthy with, for a rollback: secrets included."""
    last_good = host.file("/etc/mlflow/last-good")
    assert (last_good.user, last_good.mode) == ("root", 0o700)
    for name in ("mlflow.env", "logging.yaml", "mlflow@.service"):
        copy = host.file(f"/etc/mlflow/last-good/{name}")
        assert (copy.user, copy.mode) == ("root", 0o600)
    assert "MP_TEST_SECRET" in host.file("/etc/mlflow/last-good/mlflow.env").content_string


def test_listens_on_loopback_only(host):
    listeners = host.check_output("ss -Htln 'sport = :5000'").splitlines()
    assert sorted(line.split()[3] for line in listeners if line.strip()) == ["127.0.0.1:5000"]


def test_runs_as_mlflow_from_the_current_venv(host):
    main_pid = host.check_output("systemctl show -p MainPID --value mlflow@5000")
    assert host.check_output(f"ps -o user= -p {main_pid}") == "mlflow"
    cmdline = host.file(f"/proc/{main_pid}/cmdline").content_string.replace("\0", " ")
    assert "/opt/mlflow/current/bin/mlflow server" in cmdline
    assert "--serve-artifacts" in cmdline
    assert "--artifacts-destination /var/lib/mlflow/artifacts" in cmdline
    assert "--workers 2" in cmdline


def test_secrets_only_in_the_env_file(host):
    env = host.file("/etc/mlflow/mlflow.env").content_string
    assert 'MLFLOW_BACKEND_STORE_URI="sqlite:////var/lib/mlflow/mlflow.db"' in env
    assert 'MP_TEST_SECRET="s3cret value with spaces"' in env
    assert 'MLFLOW_DISABLE_TELEMETRY="true"' in env
    # The service has it in its environment, and no process shows it on a command line.
    main_pid = host.check_output("systemctl show -p MainPID --value mlflow@5000")
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{main_pid}/environ")
    assert "MP_TEST_SECRET=s3cret value with spaces" in environ
    assert "s3cret" not in host.check_output("ps -eo args")


def test_allowed_hosts_cover_public_names_with_and_without_port(host):
    for name in [
        "mlflow.example.test",
        "mlflow.example.test:443",
        "mlflow.example.test:8443",
        "mp-mlflow",
        "localhost:5000",
    ]:
        status, _ = _curl(
            host, "/api/2.0/mlflow/experiments/search?max_results=1", f"-H 'Host: {name}'"
        )
        assert status == 200, name
    status, _ = _curl(
        host, "/api/2.0/mlflow/experiments/search?max_results=1", "-H 'Host: evil.example'"
    )
    assert status == 403
    # /health needs neither an allowed host nor credentials (load balancers probe it).
    assert _curl(host, "/health", "-H 'Host: evil.example'")[0] == 200


def test_schema_migrated_and_stamped(host):
    stamp = host.file("/var/lib/mlflow/schema.stamp").content_string
    assert stamp.strip() == f"mlflow={VERSION} backend=sqlite /var/lib/mlflow/mlflow.db"
    heads = host.check_output(
        f'{VENV}/bin/python -c "import sqlite3; '
        "db = sqlite3.connect('/var/lib/mlflow/mlflow.db'); "
        "print(db.execute('select version_num from alembic_version').fetchone()[0])\""
    )
    script = host.check_output(
        f'cd /tmp && {VENV}/bin/python -c "from mlflow.store.db.utils import _get_alembic_config; '
        "from alembic.script import ScriptDirectory; "
        "print(ScriptDirectory.from_config(_get_alembic_config('sqlite://')).get_current_head())\""
    )
    assert heads == script
    result = host.check_output("systemctl show -p Result --value mlflow-db-upgrade.service")
    assert result == "success"


def test_experiment_run_and_artifact_round_trip(host):
    status, body = _curl(
        host,
        "/api/2.0/mlflow/experiments/create",
        "-X POST -H 'Content-Type: application/json'",
        f'-d \'{{"name": "mp-role-test-{time.time_ns()}"}}\'',
    )
    assert status == 200, body
    experiment_id = json.loads(body)["experiment_id"]
    status, body = _curl(
        host,
        "/api/2.0/mlflow/runs/create",
        "-X POST -H 'Content-Type: application/json'",
        f'-d \'{{"experiment_id": "{experiment_id}"}}\'',
    )
    assert status == 200, body
    artifact_uri = json.loads(body)["run"]["info"]["artifact_uri"]
    # Proxied artifacts: the run's root is an mlflow-artifacts URI, stored under the destination.
    assert artifact_uri.startswith("mlflow-artifacts:/")
    relative = artifact_uri.removeprefix("mlflow-artifacts:/").lstrip("/")
    host.run_expect([0], "head -c 65536 /dev/urandom > /tmp/mp-artifact.bin")
    status, _ = _curl(
        host,
        f"/api/2.0/mlflow-artifacts/artifacts/{relative}/blob.bin",
        "-X PUT",
        "--data-binary @/tmp/mp-artifact.bin",
    )
    assert status == 200
    stored = host.file(f"/var/lib/mlflow/artifacts/{relative}/blob.bin")
    assert stored.user == "mlflow"
    assert stored.sha256sum == host.file("/tmp/mp-artifact.bin").sha256sum
    host.run_expect(
        [0],
        f"curl -sf -o /tmp/mp-download.bin http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/{relative}/blob.bin",
    )
    assert host.file("/tmp/mp-download.bin").sha256sum == stored.sha256sum


def test_logging_config_used_journal_and_file(host):
    config = host.file("/etc/mlflow/logging.yaml").content_string
    assert "logging.handlers.RotatingFileHandler" in config
    assert "maxBytes: 10485760" in config
    _curl(host, "/health?mp-log-probe=1")
    time.sleep(1)
    log = host.file("/var/log/mlflow/mlflow.log")
    assert log.user == "mlflow"
    assert "mp-log-probe=1" in log.content_string
    journal = host.check_output("journalctl -u mlflow@5000 --no-pager -o cat -n 200")
    assert "mp-log-probe=1" in journal


def test_hardening_score(host):
    out = host.check_output("systemd-analyze security mlflow@5000.service --no-pager | tail -n 1")
    score = float(out.split("level for mlflow@5000.service:")[1].split()[0])
    assert score <= 2.0, out
    unit = host.check_output("systemctl cat mlflow@5000.service")
    for setting in [
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "KillMode=control-group",
        "Restart=always",
    ]:
        assert setting in unit


def test_job_execution_runs_when_enabled(host):
    """molecule.yml turns it on: the job runner and its huey consumers run under the unit."""
    assert (
        'MLFLOW_SERVER_ENABLE_JOB_EXECUTION="true"'
        in host.file("/etc/mlflow/mlflow.env").content_string
    )
    for _ in range(60):  # they start after the server answers
        processes = host.check_output("systemctl status mlflow@5000 --no-pager -l")
        if "mlflow.server.jobs._job_runner" in processes and "huey_consumer" in processes:
            break
        time.sleep(1)
    assert "mlflow.server.jobs._job_runner" in processes
    assert "huey_consumer" in processes


def test_bytecode_compiled_at_install(host):
    """The service sees the venv read-only: without .pyc files every start compiled it again."""
    compiled = host.check_output(
        f"find {VENV}/lib -path '*mlflow/server/__pycache__/*.pyc' | wc -l"
    )
    assert int(compiled) > 10


def test_stop_ends_every_child_process(host):
    """MLflow 3 spawns uvicorn workers and huey consumers: a stop must leave none behind."""
    assert (
        int(host.check_output("pgrep -c -u mlflow")) >= 4
    )  # launcher, uvicorn, workers, consumers
    # The target's own stop job returns at once; its instances stop gracefully (PartOf=).
    host.run_expect([0], "systemctl stop mlflow.target")
    try:
        for _ in range(45):
            if host.run("pgrep -u mlflow").rc == 1:
                break
            time.sleep(1)
        assert host.run("pgrep -u mlflow").rc == 1, host.check_output("ps -u mlflow -o pid,args")
        assert host.run("systemctl is-active mlflow@5000.service").stdout.strip() == "inactive"
    finally:
        host.run_expect([0], "systemctl start mlflow.target")
        for _ in range(60):
            if _curl(host, "/health")[0] == 200:
                break
            time.sleep(1)
    assert _curl(host, "/health") == (200, "OK")


def test_restarts_after_a_crash(host):
    main_pid = host.check_output("systemctl show -p MainPID --value mlflow@5000")
    host.run_expect([0], f"kill -9 {main_pid}")
    for _ in range(90):
        new_pid = host.check_output("systemctl show -p MainPID --value mlflow@5000")
        if new_pid not in ("0", main_pid) and _curl(host, "/health")[0] == 200:
            break
        time.sleep(1)
    assert new_pid not in ("0", main_pid)
    assert _curl(host, "/health") == (200, "OK")
