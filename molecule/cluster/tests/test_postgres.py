"""Backend postgresql: a remote PostgreSQL 15 that accepts TLS only, shared by two MLflow hosts."""

import json
import os
import re
import shlex
import urllib.parse
from pathlib import Path

import pytest
import testinfra
from mp_playbook import run_playbook

testinfra_hosts = ["ansible://mp-pgmlflow"]

PASSWORD = "p@ss:w/rd%#?&[]= 'q\"%41"
ADMIN_PASSWORD = "pg adm1n p@ss%w"
ROOT = Path(__file__).resolve().parents[3]
PYTHON = "/opt/mlflow/current/bin/python"


@pytest.fixture(scope="module")
def pg():
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://mp-pg?ansible_inventory={inventory}")


def _db_check(host, uri):
    """Run the role's connection check with another URI, the way the play runs it."""
    host.run_expect(
        [0], f"printf '%s\\n' {shlex.quote('MLFLOW_BACKEND_STORE_URI=' + uri)} > /tmp/mp-check.env"
    )
    host.run_expect([0], "chmod 0600 /tmp/mp-check.env")
    out = host.run(
        "systemd-run --quiet --wait --pipe --collect --uid=mlflow --gid=mlflow"
        " --property=EnvironmentFile=/tmp/mp-check.env"
        f" {PYTHON} /opt/mlflow/bin/mlflow-host db-check"
    )
    host.run("rm -f /tmp/mp-check.env")
    return out


def _uri(user="mlflow", password=PASSWORD, host="mp-pg", database="mlflow", **query):
    options = {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/mlflow/db-ca.pem",
        "connect_timeout": "5",
    }
    options.update(query)
    q = urllib.parse.urlencode(options)
    credentials = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
    return f"postgresql+psycopg2://{credentials}@{host}:5432/{database}?{q}"


def _psql(pg, sql, database="postgres"):
    return pg.check_output(f"psql -U postgres -d {database} -Atc {shlex.quote(sql)}")


def test_server_healthy(host):
    for port in (5001, 5002):
        assert host.service(f"mlflow@{port}").is_running
        assert host.check_output(f"curl -s http://127.0.0.1:{port}/health") == "OK"


def test_uri_is_encoded_and_verifies_the_server(host):
    env = host.file("/etc/mlflow/mlflow.env")
    assert (env.user, env.mode) == ("root", 0o600)
    encoded = urllib.parse.quote(PASSWORD, safe="")
    assert (
        f'MLFLOW_BACKEND_STORE_URI="postgresql+psycopg2://mlflow:{encoded}@mp-pg:5432/mlflow'
        '?sslmode=verify-full&sslrootcert=%2Fetc%2Fmlflow%2Fdb-ca.pem&connect_timeout=10"'
    ) in env.content_string
    ca = host.file("/etc/mlflow/db-ca.pem")
    assert (ca.user, ca.group, ca.mode) == ("root", "mlflow", 0o640)


def test_mlflow_connections_are_encrypted(pg):
    out = _psql(
        pg,
        "SELECT count(*), bool_and(s.ssl), min(s.version) FROM pg_stat_ssl s"
        " JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'mlflow'",
    )
    count, all_ssl, version = out.split("|")
    assert int(count) >= 1
    assert all_ssl == "t"
    assert version in ("TLSv1.2", "TLSv1.3")


def test_role_has_least_privileges_and_owns_its_database(pg):
    flags = _psql(
        pg, "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'mlflow'"
    )
    assert flags == "f|f|f"
    owner = _psql(pg, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'mlflow'")
    assert owner == "mlflow"
    # MLflow's tables live in public, created by the mlflow role (PostgreSQL 15 rules).
    tables = _psql(
        pg, "SELECT tableowner FROM pg_tables WHERE tablename = 'experiments'", database="mlflow"
    )
    assert tables == "mlflow"


def test_connection_check_passes_with_the_real_settings(host):
    out = _db_check(host, _uri())
    assert out.rc == 0, out.stdout
    assert out.stdout.strip().endswith(": connected")


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        (_uri(sslmode="disable"), "TLS required or failed"),
        (_uri(password="wrong"), "authentication failed"),
        (_uri(database="nosuchdb"), "database does not exist"),
        (_uri(host="mp-no-such-host"), "host unreachable"),
    ],
    ids=["plain-text", "password", "database", "host"],
)
def test_connection_check_names_the_problem(host, uri, problem):
    out = _db_check(host, uri)
    assert out.rc == 1
    assert f": {problem}: " in out.stdout, out.stdout
    assert PASSWORD not in out.stdout and "wrong" not in out.stdout.split(problem)[0]


def test_plain_text_connection_is_refused(host):
    out = _db_check(host, _uri(sslmode="disable"))
    assert "no encryption" in out.stdout


def test_client_flow_log_register_alias(host):
    """The smoke test of `make demo` (scripts/smoke_test.py), run on the host against the server."""
    script = (ROOT / "scripts" / "smoke_test.py").read_text()
    host.run_expect([0], f"cat > /tmp/mp-smoke.py <<'MP_EOF'\n{script}\nMP_EOF")
    # MLflow's auth app is on: the smoke test logs in as the admin (password from a file).
    host.run_expect([0], f"umask 077; printf '%s\\n' {shlex.quote(ADMIN_PASSWORD)} > /tmp/mp-admin")
    out = host.run(
        "cd /tmp && MLFLOW_TRACKING_URI=http://127.0.0.1:5001 MLFLOW_DISABLE_TELEMETRY=true"
        " MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD_FILE=/tmp/mp-admin"
        f" {PYTHON} /tmp/mp-smoke.py"
    )
    assert out.rc == 0, out.stdout + out.stderr
    assert '"result": "passed"' in out.stdout


def test_auth_database_is_on_postgresql(host, pg):
    owner = _psql(
        pg, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'mlflow_auth'"
    )
    assert owner == "mlflow"
    users = _psql(pg, "SELECT username, is_admin FROM users", database="mlflow_auth")
    assert users == "admin|t"
    ini = host.file("/etc/mlflow/basic_auth.ini")
    assert (ini.user, ini.mode) == ("mlflow", 0o600)
    # The same encoded credentials as MLflow's URI, every "%" doubled for ConfigParser.
    encoded = urllib.parse.quote(PASSWORD, safe="").replace("%", "%%")
    assert f"database_uri = postgresql+psycopg2://mlflow:{encoded}@mp-pg:5432/mlflow_auth?" in (
        ini.content_string
    )


def test_auth_app_guards_the_api(host):
    url = "http://127.0.0.1:5001/api/2.0/mlflow/experiments/search?max_results=1"
    assert host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' '{url}'") == "401"


API_CALL = """
import base64, json, sys, urllib.request
password = open("/tmp/mp-admin").read().strip()
request = urllib.request.Request(
    "http://127.0.0.1:5001" + sys.argv[1],
    data=sys.argv[2].encode(),
    headers={
        "Content-Type": "application/json",
        "Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode(),
    },
)
print(urllib.request.urlopen(request).read().decode())
"""


def _api(host, path, body):
    host.run_expect([0], f"umask 077; printf '%s\\n' {shlex.quote(ADMIN_PASSWORD)} > /tmp/mp-admin")
    host.run_expect([0], f"cat > /tmp/mp-api.py <<'MP_EOF'\n{API_CALL}\nMP_EOF")
    return host.check_output(f"{PYTHON} /tmp/mp-api.py {path} {shlex.quote(json.dumps(body))}")


def test_backup_and_restore_over_tls(host, pg):
    """pg_dump and pg_restore over the server's verify-full TLS, for MLflow's database and the
    auth app's: what was written after the backup is gone after the restore. Two hosts share the
    database: both stop, the first (which holds the backup) restores it once, both start."""
    second = testinfra.get_host(
        f"ansible://mp-pgmlflow2?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}&sudo=true"
    )
    _api(host, "/api/2.0/mlflow/experiments/create", {"name": "before-backup"})
    before = set(host.check_output("ls /var/backups/mlflow").split())
    before_second = set(second.check_output("ls /var/backups/mlflow || true").split())
    rc, out = run_playbook("backup.yml")
    assert rc == 0, out[-3000:]
    # Each host took one; the shared databases were dumped once, by the first host.
    assert len(re.findall(r"Backup \S+ of MLflow", out)) == 2
    assert "this host only: the shared databases are in the backup mp-pgmlflow took" in (
        " ".join(out.split())
    )
    (other,) = set(second.check_output("ls /var/backups/mlflow").split()) - before_second
    other_manifest = json.loads(
        second.file(f"/var/backups/mlflow/{other}/manifest.json").content_string
    )
    assert other_manifest["kind"] == "config" and list(other_manifest["files"]) == ["config.tar.gz"]
    (name,) = set(host.check_output("ls /var/backups/mlflow").split()) - before
    manifest = json.loads(host.file(f"/var/backups/mlflow/{name}/manifest.json").content_string)
    assert manifest["databases"]["database"]["kind"] == "postgresql"
    assert manifest["databases"]["auth"]["file"] == "auth.pgdump"
    assert set(manifest["files"]) >= {"database.pgdump", "auth.pgdump"}
    # The dumps went over TLS as the MLflow role (pg_stat_ssl saw no plain connection).
    assert "p@ss:w/rd" not in out

    _api(host, "/api/2.0/mlflow/experiments/create", {"name": "after-backup"})
    _api(
        host,
        "/api/2.0/mlflow/users/create",
        {"username": "temp-user", "password": "temp password 1"},
    )
    # A request that cannot be right stops the run before any host stops MLflow.
    started = second.check_output(
        "systemctl show -p ExecMainStartTimestampMonotonic --value mlflow@5001"
    )
    rc, out = run_playbook("restore.yml", "-e", "mlflow_server_backup_name=no-such-backup")
    flat = " ".join(out.split())
    assert rc != 0 and "mlflow_server_backup_name: no backup named no-such-backup" in flat, flat[
        -3000:
    ]
    assert (
        second.check_output("systemctl show -p ExecMainStartTimestampMonotonic --value mlflow@5001")
        == started
    )

    # Across both hosts: both stop, the first restores the shared databases once, both start.
    rc, out = run_playbook("restore.yml", "-e", f"mlflow_server_backup_name={name}")
    assert rc == 0, out[-3000:]
    assert f"serves the databases mp-pgmlflow restored from backup {name}" in " ".join(out.split())
    assert (
        second.check_output("systemctl show -p ExecMainStartTimestampMonotonic --value mlflow@5001")
        != started
    )
    assert f"Restored backup {name}" in out
    experiments = _psql(pg, "SELECT name FROM experiments ORDER BY name", database="mlflow")
    assert "before-backup" in experiments.split() and "after-backup" not in experiments.split()
    users = _psql(pg, "SELECT username FROM users ORDER BY username", database="mlflow_auth")
    assert users.split() == ["admin"]
    # The databases as they were before the restore were kept as a backup first.
    assert host.run("ls -d /var/backups/mlflow/*-pre-restore").rc == 0
    for each in (host, second):
        for port in (5001, 5002):
            assert each.run(
                f"for i in $(seq 60); do curl -sf http://127.0.0.1:{port}/health && exit 0;"
                " sleep 1; done; exit 1"
            ).stdout.endswith("OK")
