"""The rules across roles (ports, auth, database connections, what a host holds) and a valid
inventory as a whole: playbooks/validate.yml's preflight and deploy.yml's capacity check."""

import pytest
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.inputs_deploy import (
    check_capacity,
)
from inputs_support import (
    ACME,
    VALID,
    preflight,
    problems,
    read,
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # The port of the outside report: nginx on SSH's port, which the firewall keeps closed.
        (
            {"nginx_tls_https_port": 22},
            [
                "nginx_tls_https_port: 22 is the SSH port (base_firewall_ssh_port)",
            ],
        ),
        (
            {"nginx_tls_https_port": 8443},
            [
                "nginx_tls_https_port: 8443 is not in base_firewall_public_tcp_ports (80, 443):"
                " the firewall would drop every client",
            ],
        ),
        (
            {"nginx_tls_http_port": 5002},
            [
                "nginx_tls_http_port: 5002 is the port of an MLflow instance"
                " (mlflow_server_instances 2 from mlflow_server_port 5001)",
                "nginx_tls_http_port: 5002 is not in base_firewall_public_tcp_ports",
            ],
        ),
        # The private port for in-network clients: open to the private networks, nobody's else.
        (
            {"base_firewall_private_tcp_ports": []},
            [
                "nginx_tls_private_port: 5000 is in neither base_firewall_private_tcp_ports"
                " (empty) nor the public list: the firewall would drop every in-network client",
            ],
        ),
        (
            {"nginx_tls_private_port": 443},
            ["nginx_tls_private_port: 443 is also nginx_tls_https_port or nginx_tls_http_port"],
        ),
        (
            {"nginx_tls_private_port": 22},
            ["nginx_tls_private_port: 22 is the SSH port (base_firewall_ssh_port)"],
        ),
        (
            {"mlflow_server_port": 5000},
            [
                "nginx_tls_upstream_ports: 5000 clashes with a port nginx listens on",
                "mlflow_server_port: 5000 is the port nginx listens on (nginx_tls_private_port)",
                "nginx_tls_private_port: 5000 is the port of an MLflow instance",
            ],
        ),
        (
            {"nginx_tls_private_port": 70000},
            ["nginx_tls_private_port: 70000 is not a TCP port (1-65535) nor 0 (none)"],
        ),
        (
            {"mlflow_server_port": 21, "base_firewall_public_tcp_ports": [80, 443, 22]},
            [
                "mlflow_server_port: its instances (21-22) include the SSH port 22",
                "base_firewall_public_tcp_ports: 22 is the SSH port (base_firewall_ssh_port)",
            ],
        ),
    ],
)
def test_ports_of_nginx_mlflow_ssh_and_the_firewall_must_agree(overrides, expected):
    found = preflight({**VALID, **overrides})
    for text in expected:
        assert any(line.startswith(text) for line in found), (text, found)


def test_ports_agree_when_the_firewall_opens_them():
    opened = {"nginx_tls_https_port": 8443, "base_firewall_public_tcp_ports": [80, 8443]}
    assert preflight({**VALID, **opened}) == []
    # No private port: nothing to open; MLflow's instances may then start at 5000.
    assert preflight({**VALID, "nginx_tls_private_port": 0, "mlflow_server_port": 5000}) == []
    # With the firewall off only the clashes count.
    assert preflight({**VALID, "nginx_tls_https_port": 8443, "base_firewall_enabled": False}) == []


def test_valid_input_has_no_problem():
    assert preflight(VALID) == []
    assert preflight({**VALID, **ACME}) == []
    eab = {
        "nginx_tls_acme_eab_kid": "kid-1",
        "nginx_tls_acme_eab_hmac_key": "zWNDZM6eQGHWpSRT_al5-w",
    }
    assert problems("nginx_tls", {**ACME, **eab, "nginx_tls_acme_staging": True}) == []
    for role in ["base", "nginx_tls"]:
        assert problems(role, {"base_firewall_admin_cidrs": ["192.0.2.0/24"]}) == []


def test_absurd_sizes_are_refused_before_the_host_is_known():
    found = preflight({**VALID, "mlflow_server_workers": 100000, "mlflow_server_instances": 16})
    assert "mlflow_server_workers: 100000 is outside 1-64" in found, found
    assert any(line.startswith("mlflow_server_workers: 16 instances of 100000") for line in found)


def test_the_local_database_must_take_every_workers_pool():
    found = preflight({**VALID, "mlflow_server_workers": 4})
    assert any(
        line.startswith("mysql_max_connections: 100 is below what MLflow's workers may open")
        and "= 120" in line
        and "raise it to 130" in line
        for line in found
    ), found
    assert preflight({**VALID, "mlflow_server_workers": 4, "mysql_max_connections": 130}) == []


@pytest.mark.parametrize(
    ("sizes", "host", "expected"),
    [
        ({"mlflow_server_instances": 2, "mlflow_server_workers": 1}, (2, 4096), []),
        (
            {"mlflow_server_instances": 2, "mlflow_server_workers": 8},
            (2, 65536),
            ["16 processes on 2 vCPU(s); at most 8"],
        ),
        (
            {"mlflow_server_instances": 2, "mlflow_server_workers": 2},
            (2, 1024),
            ["need about 1200 MB (300 MB each), more than 80% of the host's 1024 MB"],
        ),
    ],
)
def test_instances_and_workers_must_fit_the_host(sizes, host, expected):
    found = check_capacity({**sizes, "vcpus": host[0], "memtotal_mb": host[1]}, read)
    assert len(found) == len(expected), found
    for line, text in zip(found, expected, strict=True):
        assert line.startswith("mlflow_server_workers: ") and text in line, found


def test_mlflow_open_past_nginx_basic_auth_is_refused():
    found = preflight({**VALID, "mlflow_server_host": "0.0.0.0"})
    assert any(
        line.startswith("mlflow_server_host: 0.0.0.0 would let clients reach MLflow's instances")
        for line in found
    ), found
    # With MLflow's own users, the instances ask for credentials themselves.
    auth = {
        "mlflow_server_host": "0.0.0.0",
        "mlflow_server_auth_enabled": True,
        "mlflow_server_auth_admin_password": "a-long-admin-password",
    }
    assert not any(line.startswith("mlflow_server_host") for line in preflight({**VALID, **auth}))
