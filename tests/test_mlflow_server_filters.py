"""Filters of role mlflow_server (plugins/filter/mlflow_server.py): the database URI every
password must survive, and the Host headers MLflow accepts."""

from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from ansible_collections.mlflow_provision.tracking.plugins.filter.mlflow_server import (
    mlflow_allowed_hosts,
    mlflow_db_uri,
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
