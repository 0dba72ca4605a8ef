"""Role mysql: MariaDB on loopback, MLflow's database and a least-privilege user."""

import json
import shlex

PASSWORD = "p@ss:w/rd%#?&[]= 'x\"y"

# Runs on the test host with the PyMySQL the role installs; prints JSON.
QUERY = """
import json, os, sys
import pymysql
try:
    conn = pymysql.connect(host=os.environ.get("H", "127.0.0.1"), port=3306, user=os.environ["U"],
                           password=os.environ["P"], database=os.environ.get("D") or None)
except pymysql.err.OperationalError as exc:
    print(json.dumps({"error": exc.args[0]})); sys.exit(0)
out = {}
with conn.cursor() as cur:
    for sql in sys.argv[1:]:
        try:
            cur.execute(sql); out[sql] = [list(map(str, row)) for row in cur.fetchall()]
        except pymysql.err.MySQLError as exc:
            out[sql] = {"error": exc.args[0]}
print(json.dumps(out))
"""


def _sql(host, user, password, *statements, database="", address="127.0.0.1"):
    env = f"H={shlex.quote(address)} U={shlex.quote(user)} P={shlex.quote(password)} D={database}"
    args = " ".join(shlex.quote(s) for s in statements)
    out = host.check_output(f"{env} python3 -c {shlex.quote(QUERY)} {args}")
    return json.loads(out)


def test_service_running_and_enabled(host):
    svc = host.service("mariadb")
    assert svc.is_running
    assert svc.is_enabled


def test_listens_on_loopback_only(host):
    listeners = host.check_output("ss -Htln 'sport = :3306'").split("\n")
    local = sorted(line.split()[3] for line in listeners if line.strip())
    assert local == ["127.0.0.1:3306"]


def test_config_rendered_and_owned_by_root(host):
    f = host.file("/etc/mysql/mariadb.conf.d/60-mlflow-provision.cnf")
    assert (f.user, f.group, f.mode) == ("root", "root", 0o644)
    assert "bind-address = 127.0.0.1" in f.content_string
    # The running server uses it: the values are live, not only on disk.
    live = _sql(
        host,
        "mlflow",
        PASSWORD,
        "SHOW VARIABLES WHERE Variable_name IN "
        "('max_connections', 'character_set_server', 'innodb_buffer_pool_size', 'bind_address')",
    )
    variables = dict(next(iter(live.values())))
    assert variables["max_connections"] == "100"
    assert variables["character_set_server"] == "utf8mb4"
    assert variables["bind_address"] == "127.0.0.1"
    mem_mb = int(host.check_output("awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo"))
    expected = max(int(mem_mb * 0.25), 128) * 1024 * 1024
    # InnoDB rounds the pool up to a whole number of chunks (128 MiB each).
    assert expected <= int(variables["innodb_buffer_pool_size"]) < expected + 128 * 1024 * 1024


def test_mlflow_user_connects_with_a_password_full_of_symbols(host):
    out = _sql(
        host, "mlflow", PASSWORD, "SELECT CURRENT_USER()", "SELECT DATABASE()", database="mlflow"
    )
    assert "error" not in out, out
    assert out["SELECT DATABASE()"] == [["mlflow"]]


def test_wrong_password_is_refused(host):
    out = _sql(host, "mlflow", PASSWORD + "x")
    assert out["error"] == 1045  # access denied


def test_database_is_utf8mb4(host):
    out = _sql(
        host,
        "mlflow",
        PASSWORD,
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
        " WHERE SCHEMA_NAME = 'mlflow'",
    )
    assert next(iter(out.values())) == [["utf8mb4", "utf8mb4_unicode_ci"]]


def test_mlflow_user_has_privileges_on_its_database_only(host):
    out = _sql(
        host,
        "mlflow",
        PASSWORD,
        "SHOW DATABASES",
        "CREATE DATABASE mp_other",
        "CREATE TABLE mlflow.mp_probe (id INT)",
        "DROP TABLE mlflow.mp_probe",
    )
    assert sorted(row[0] for row in out["SHOW DATABASES"]) == ["information_schema", "mlflow"]
    assert out["CREATE DATABASE mp_other"]["error"] == 1044  # access denied to database
    assert out["CREATE TABLE mlflow.mp_probe (id INT)"] == []


def test_root_only_through_the_unix_socket(host):
    # As the system's root, over the socket: no password exists to leak.
    assert host.run("mariadb -N -e 'SELECT 1'").stdout.strip() == "1"
    # Over TCP, without the socket's proof of identity: refused.
    assert _sql(host, "root", "")["error"] == 1698 or _sql(host, "root", "")["error"] == 1045


def test_no_anonymous_accounts_or_test_database(host):
    users = host.check_output("mariadb -N -e \"SELECT COUNT(*) FROM mysql.user WHERE User = ''\"")
    assert users.strip() == "0"
    dbs = host.check_output("mariadb -N -e 'SHOW DATABASES'").split()
    assert "test" not in dbs
