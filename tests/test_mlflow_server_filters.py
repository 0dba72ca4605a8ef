"""Filters of role mlflow_server (plugins/filter/mlflow_server.py): the database URI every
password must survive, and the Host headers MLflow accepts."""

from base64 import b64decode, b64encode
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from ansible_collections.mlflow_provision.tracking.plugins.filter.mlflow_server import (
    mlflow_allowed_hosts,
    mlflow_db_uri,
    mlflow_instance_probe,
    mlflow_last_good_files,
)

NASTY = [
    "p@ss:w/rd%#?&[]= 'q\"%41",
    "plain",
    "ünïcødé pass",
    "a+b=c;d,e",
    "100%",
    "~tilde_dash-dot.",
]


@pytest.mark.parametrize("password", NASTY)
def test_every_part_survives_the_uri(password):
    uri = mlflow_db_uri("mysql", "ml/user@x", password, "db.example.com", 3306, "ml flow#1")
    parts = urlsplit(uri)
    assert parts.scheme == "mysql+pymysql"
    assert (unquote(parts.username), unquote(parts.password)) == ("ml/user@x", password)
    assert (parts.hostname, parts.port) == ("db.example.com", 3306)
    assert unquote(parts.path[1:]) == "ml flow#1"


def test_query_keeps_its_order_and_encodes_values():
    query = {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/mlflow/db-ca.pem",
        "connect_timeout": 10,
    }
    uri = mlflow_db_uri("postgresql", "mlflow", "pw", "10.0.0.5", 5432, "mlflow", query)
    assert uri == (
        "postgresql+psycopg2://mlflow:pw@10.0.0.5:5432/mlflow"
        "?sslmode=verify-full&sslrootcert=%2Fetc%2Fmlflow%2Fdb-ca.pem&connect_timeout=10"
    )
    assert parse_qsl(urlsplit(uri).query) == [(k, str(v)) for k, v in query.items()]


def test_ipv6_host_goes_in_brackets():
    uri = mlflow_db_uri("mysql", "u", "p", "::1", 3306, "d", {"charset": "utf8mb4"})
    assert uri == "mysql+pymysql://u:p@[::1]:3306/d?charset=utf8mb4"
    assert urlsplit(uri).hostname == "::1"


def test_allowed_hosts():
    hosts = mlflow_allowed_hosts(
        ["mlflow.example.com", "mlflow"], [443, 8443, 443, 5000], ["*.internal"]
    )
    assert hosts[:6] == [
        "localhost",
        "localhost:*",
        "127.0.0.1",
        "127.0.0.1:*",
        "[::1]",
        "[[]::1]:*",
    ]
    assert hosts[6:] == [
        "mlflow.example.com",
        "mlflow.example.com:443",
        "mlflow.example.com:8443",
        "mlflow.example.com:5000",
        "mlflow",
        "mlflow:443",
        "mlflow:8443",
        "mlflow:5000",
        "*.internal",
    ]
    assert mlflow_allowed_hosts([], [443], ["localhost"]) == hosts[:6]


def test_schema_plan():
    from ansible_collections.mlflow_provision.tracking.plugins.filter.mlflow_server import (
        mlflow_schema_plan,
    )

    at_head = '{"databases": {"database": {"at_head": true}, "auth": {"at_head": true}}}'
    behind = '{"databases": {"database": {"at_head": true}, "auth": {"at_head": false}}}'
    assert mlflow_schema_plan("3.17.2 mysql://db\n", "3.17.2 mysql://db", behind) == "none"
    assert mlflow_schema_plan("3.17.1 mysql://db", "3.17.2 mysql://db", behind) == "window"
    assert mlflow_schema_plan("3.17.1 mysql://db", "3.17.2 mysql://db", at_head) == "stamp"
    # No inspection (a new database, or another one): migrate at once.
    assert mlflow_schema_plan("", "3.17.2 mysql://db", "") == "migrate"
    assert mlflow_schema_plan("3.17.2 mysql://old", "3.17.2 mysql://db") == "migrate"


def test_restore_problems():
    from ansible_collections.mlflow_provision.tracking.plugins.filter.mlflow_server import (
        mlflow_restore_problems,
    )

    manifest = {"mlflow_version": "3.17.2", "databases": {"database": {"kind": "mysql"}}}
    assert mlflow_restore_problems(manifest, "b1", "3.17.2", "mysql", False) == []
    assert mlflow_restore_problems(manifest, "b1", "3.17.10", "mysql", False) == []
    found = mlflow_restore_problems(manifest, "b1", "3.11.1", "sqlite", False)
    assert found == [
        "mlflow_server_backup_name: backup b1 was taken with MLflow 3.17.2, newer than the"
        " installed 3.11.1: its schema is unknown to this version. Deploy"
        " mlflow_server_version=3.17.2 first (playbooks/upgrade.yml), then restore.",
        "mlflow_server_backup_name: backup b1 holds a mysql database; this server uses"
        " mlflow_server_backend sqlite.",
    ]
    with_auth = {**manifest, "databases": {**manifest["databases"], "auth": {"kind": "sqlite"}}}
    assert mlflow_restore_problems(with_auth, "b1", "3.17.2", "mysql", True) == []
    assert (
        "turn mlflow_server_auth_enabled on"
        in mlflow_restore_problems(with_auth, "b1", "3.17.2", "mysql", False)[0]
    )
    # A cluster host's backup of its configuration only.
    config_only = {"mlflow_version": "3.17.2", "kind": "config", "databases": {}}
    (problem,) = mlflow_restore_problems(config_only, "c1", "3.17.2", "postgresql", True)
    assert "backup c1 holds only a host's configuration" in problem


def test_directories_for_file_set():
    from ansible_collections.mlflow_provision.tracking.plugins.filter.mlflow_server import (
        mlflow_directories,
    )

    assert mlflow_directories(["/var/lib/mlflow"], "mlflow", "mlflow", "0750") == [
        {
            "dest": "/var/lib/mlflow",
            "state": "directory",
            "owner": "mlflow",
            "group": "mlflow",
            "mode": "0750",
        }
    ]


def test_last_good_files_compare_the_rendered_content_with_the_copies():
    rendered = [
        {"dest": "/etc/mlflow/mlflow.env", "content": "A=1\n", "mode": "0600"},
        {"dest": "/etc/systemd/system/mlflow@.service", "content": "[Unit]\n", "validate": "x"},
        {"dest": "/etc/mlflow/logging.yaml", "content": "version: 1\n"},
    ]
    instance = [{"path": "/etc/systemd/system/mlflow@.service"}, {"path": "/etc/mlflow/mlflow.env"}]
    assert mlflow_last_good_files(rendered, instance, "/etc/mlflow/last-good") == [
        {"dest": "/etc/mlflow/last-good/mlflow@.service", "content": "[Unit]\n", "mode": "0600"},
        {"dest": "/etc/mlflow/last-good/mlflow.env", "content": "A=1\n", "mode": "0600"},
    ]
    with pytest.raises(ValueError, match=r"/etc/mlflow/db-ca\.pem is an instance file"):
        mlflow_last_good_files(rendered, [{"path": "/etc/mlflow/db-ca.pem"}], "/x")


def test_instance_probe_names_the_unit_and_its_health_url():
    assert mlflow_instance_probe(5001, "127.0.0.1") == (
        "mlflow@5001.service=http://127.0.0.1:5001/health"
    )
    assert mlflow_instance_probe(5002, "[::1]").endswith("=http://[::1]:5002/health")


def _read(host, value=None, unreachable=False):
    reading = {"item": host}
    if unreachable:
        reading["unreachable"] = True
    elif value is None:
        reading["failed"] = True  # slurp of a missing file
    else:
        reading["content"] = b64encode(f"{value}\n".encode()).decode()
    return reading


def test_a_shared_secret_keeps_the_value_any_host_holds():
    from ansible_collections.mlflow_provision.tracking.plugins.filter.mlflow_server import (
        mlflow_shared_secret,
    )

    new = b64encode(b"new\n").decode()
    # No host has it: the candidate, to be written everywhere.
    chosen = mlflow_shared_secret([_read("a"), _read("b")], new, "key")
    assert chosen == {"content": new, "new": True, "missing_on": ["a", "b"], "problem": ""}
    # One host has it (a host added, or a file lost): that value, written where it lacks.
    chosen = mlflow_shared_secret([_read("a", "old"), _read("b")], new, "key")
    assert b64decode(chosen["content"]) == b"old\n"
    assert (chosen["new"], chosen["missing_on"], chosen["problem"]) == (False, ["b"], "")
    # Every host has it: nothing to write.
    chosen = mlflow_shared_secret([_read("a", "old"), _read("b", "old ")], new, "key")
    assert chosen["missing_on"] == [] and b64decode(chosen["content"]) == b"old\n"
    # Hosts disagree: no value is chosen (nor shown), the hosts are named.
    chosen = mlflow_shared_secret(
        [_read("a", "one"), _read("b", "two"), _read("c", "one")], new, "key"
    )
    assert chosen["content"] == ""
    assert chosen["problem"].startswith(
        "key differs between the hosts serving this MLflow (the same on: a, c; b)"
    )
    assert "one" not in chosen["problem"].split(":")[0]
    # None that answered has it, and one did not answer: it may hold the value in use.
    chosen = mlflow_shared_secret([_read("a"), _read("b", unreachable=True)], new, "key")
    assert chosen["content"] == "" and "b did not answer" in chosen["problem"]
    # A silent host does not matter once an answering one holds the value.
    chosen = mlflow_shared_secret([_read("a", "old"), _read("b", unreachable=True)], new, "key")
    assert b64decode(chosen["content"]) == b"old\n" and chosen["problem"] == ""
