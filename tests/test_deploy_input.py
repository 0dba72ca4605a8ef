"""Bad input fails in the deploy playbook's preflight, before any role changes anything."""

import re

import pytest
from conftest import ROOT

INVENTORY = "tests/inventories/controller.yml"
VALID = {
    "base_firewall_admin_cidrs": ["192.0.2.0/24"],
    "mlflow_server_backend": "mysql",
    "mysql_mlflow_password": "p@ss:w/rd%#?&[]= ",
    "mlflow_server_db_password": "p@ss:w/rd%#?&[]= ",
}
MISSING = "/nonexistent/server.pem"
AZ = "mlflow_server_azure_"
AUTH = {"mlflow_server_auth_enabled": True, "mlflow_server_auth_admin_password": "adm1n password"}
ALICE = {"name": "alice", "password": "alice password 1"}
AZURE = {"mlflow_server_artifact_store": "azure_blob", AZ + "storage_account": "mlflowacct"}
CONN = (
    "DefaultEndpointsProtocol=https;AccountName=mlflowacct;AccountKey=a2V5;"
    "EndpointSuffix=core.windows.net"
)


def _run(run_playbook, overrides):
    run = run_playbook("playbooks/deploy.yml", {**VALID, **overrides}, inventory=INVENTORY)
    assert run.rc != 0, run
    assert "Traceback" not in run.output, run
    # The configuring play never started, and the preflight changed nothing.
    assert "PLAY [Configure MLflow hosts]" not in run.output, run
    recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+).*failed=(\d+)", run.output)
    assert recap and recap.groups() == ("0", "1"), run
    return run


# (overrides, what the failure message must say)
INVALID = [
    (
        {"mlflow_server_backend": "oracle"},
        "mlflow_server_backend must be one of: sqlite, mysql, postgresql",
    ),
    (
        {"mlflow_server_backend": "postgresql", "mlflow_server_db_sslmode": "required"},
        "mlflow_server_db_sslmode must be one of: disable, allow, prefer, require, verify-ca",
    ),
    (
        {"mlflow_server_backend": "postgresql", "mlflow_server_db_sslmode": "verify-full"},
        "mlflow_server_db_ssl_ca: required with mlflow_server_db_sslmode verify-full",
    ),
    (
        {"mlflow_server_backend": "postgresql", "mlflow_server_db_ssl_ca": MISSING},
        f"mlflow_server_db_ssl_ca: {MISSING} is not a file on the controller",
    ),
    (
        {"mlflow_server_backend": "postgresql", "mlflow_server_db_admin_user": "pgadmin"},
        "mlflow_server_db_admin_password: required when mlflow_server_db_admin_user is set",
    ),
    (
        {"mlflow_server_db_options": {"sslmode": "disable"}},
        'mlflow_server_db_options: "sslmode" is not allowed',
    ),
    ({"mlflow_server_db_password": ""}, "mlflow_server_db_password: required for backend mysql"),
    ({"mysql_mlflow_password": ""}, "mysql_mlflow_password: required, must not be empty"),
    (
        {"mysql_mlflow_password": "line\nbreak"},
        "mysql_mlflow_password: must hold printable characters only",
    ),
    (
        {"mlflow_server_version": "latest"},
        'mlflow_server_version: "latest" is not a release version',
    ),
    ({"mlflow_server_version": "3.10.1"}, "mlflow_server_version: 3.10.1 is older than 3.11"),
    ({"mlflow_server_workers": 0}, "mlflow_server_workers: 0 must be at least 1"),
    ({"mlflow_server_workers": "many"}, "mlflow_server_workers"),
    ({"mlflow_server_host": "localhost"}, "mlflow_server_host: localhost is not an IP address"),
    (
        {"mlflow_server_port": 443},
        "nginx_tls_upstream_port: 443 (mlflow_server_port) clashes with the port nginx listens on",
    ),
    ({"mlflow_server_installer": "conda"}, "mlflow_server_installer must be one of: uv, pip"),
    (
        {"mlflow_server_environment_extra": {"BAD-NAME": "x"}},
        'mlflow_server_environment_extra: "BAD-NAME" is not',
    ),
    (
        {"mlflow_server_public_ports": [70000]},
        "mlflow_server_public_ports[0]: 70000 is not a TCP port",
    ),
    ({"mysql_mlflow_database": "ml-flow"}, "mysql_mlflow_database: ml-flow is not allowed"),
    (
        {"mysql_innodb_buffer_pool_ratio": 0.95},
        "mysql_innodb_buffer_pool_ratio: 0.95 is outside (0, 0.8]",
    ),
    (
        {"nginx_tls_certificate_mode": "acme"},
        "nginx_tls_certificate_mode must be one of: self_signed, provided",
    ),
    (
        {"nginx_tls_certificate_mode": "provided"},
        "nginx_tls_certificate: required with nginx_tls_certificate_mode provided",
    ),
    (
        {
            "nginx_tls_certificate_mode": "provided",
            "nginx_tls_certificate": MISSING,
            "nginx_tls_private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
        },
        f"nginx_tls_certificate: {MISSING} is not a file on the controller",
    ),
    (
        {
            "nginx_tls_certificate_mode": "provided",
            "nginx_tls_certificate": str(ROOT / "pyproject.toml"),
            "nginx_tls_private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
        },
        "holds no PEM CERTIFICATE",
    ),
    (
        {"nginx_tls_basic_auth_users": [{"name": "ann"}, {"name": "ann"}]},
        "nginx_tls_basic_auth_users[1].name: ann is listed twice",
    ),
    (
        {"nginx_tls_basic_auth_users": [{"name": "a:b"}]},
        'nginx_tls_basic_auth_users[0].name: "a:b" is not allowed',
    ),
    ({"nginx_tls_basic_auth_users": []}, "nginx_tls_basic_auth_users: must list at least one user"),
    (
        {"nginx_tls_client_max_body_size": "lots"},
        'nginx_tls_client_max_body_size: "lots" is not an nginx size',
    ),
    ({"nginx_tls_protocols": ["TLSv1.1"]}, "nginx_tls_protocols"),
    ({"nginx_tls_http_port": 443}, "nginx_tls_http_port: 443 is also nginx_tls_https_port"),
    ({"nginx_tls_ip_sans": ["not-an-ip"]}, "nginx_tls_ip_sans[0]: not-an-ip is not an IP address"),
    (
        {"mlflow_server_artifact_store": "s3"},
        "mlflow_server_artifact_store must be one of: local, azure_blob",
    ),
    (
        {**AZURE, "mlflow_server_azure_storage_account": "My_Account"},
        'mlflow_server_azure_storage_account: "My_Account" breaks the Azure naming rules:'
        " 3-24 characters, lowercase letters and digits only",
    ),
    (
        {**AZURE, "mlflow_server_azure_storage_account": "ab"},
        'mlflow_server_azure_storage_account: "ab" breaks the Azure naming rules',
    ),
    (
        {**AZURE, "mlflow_server_azure_storage_account": "a" * 25},
        "breaks the Azure naming rules",
    ),
    (
        {**AZURE, "mlflow_server_azure_storage_account": ""},
        "mlflow_server_azure_storage_account: required for mlflow_server_artifact_store azure_blob",
    ),
    (
        {**AZURE, AZ + "account_key": "a2V5", AZ + "connection_string": CONN},
        f"{AZ}connection_string and {AZ}account_key: two credential kinds",
    ),
    (
        {**AZURE, AZ + "account_key": "a2V5", AZ + "client_id": "0000"},
        f"{AZ}account_key and {AZ}client_id: two credential kinds",
    ),
    (
        {**AZURE, "mlflow_server_azure_connection_string": CONN.replace("mlflowacct", "otheracct")},
        'mlflow_server_azure_storage_account: "mlflowacct" differs from the account the'
        ' connection string names ("otheracct")',
    ),
    (
        {**AZURE, "mlflow_server_azure_container": "Bad--Name"},
        'mlflow_server_azure_container: "Bad--Name" breaks the Azure naming rules',
    ),
    (
        {**AZURE, "mlflow_server_azure_path_prefix": "../escape"},
        'mlflow_server_azure_path_prefix: "../escape" may hold',
    ),
    (
        {**AZURE, "mlflow_server_azure_blob_endpoint": "https://mlflowacct.blob.example"},
        "mlflow_server_azure_blob_endpoint: needs mlflow_server_azure_account_key",
    ),
    (
        {**AUTH, "mlflow_server_auth_admin_password": ""},
        "mlflow_server_auth_admin_password: required with mlflow_server_auth_enabled",
    ),
    (
        {**AUTH, "mlflow_server_auth_admin_password": "password1234"},
        "mlflow_server_auth_admin_password: is the default password older MLflow releases",
    ),
    (
        {**AUTH, "mlflow_server_auth_admin_password": "short"},
        "mlflow_server_auth_admin_password: must be 12 printable characters or more",
    ),
    (
        {**AUTH, "mlflow_server_auth_users": [ALICE, ALICE]},
        'mlflow_server_auth_users: the user "alice" is listed more than once',
    ),
    (
        {**AUTH, "mlflow_server_auth_users": [{"name": "bob", "password": "short"}]},
        'mlflow_server_auth_users[0].password: user "bob" needs 12 characters or more',
    ),
    (
        {
            **AUTH,
            "mlflow_server_auth_users": [ALICE],
            "mlflow_server_auth_experiment_permissions": [
                {"user": "alice", "experiment": "e", "permission": "WRITE"}
            ],
        },
        "value of permission must be one of: READ, EDIT, MANAGE, NO_PERMISSIONS, got: WRITE",
    ),
    (
        {
            **AUTH,
            "mlflow_server_auth_model_permissions": [
                {"user": "mallory", "model": "m", "permission": "READ"}
            ],
        },
        'mlflow_server_auth_model_permissions: user "mallory" is not in mlflow_server_auth_users',
    ),
    (
        {**AUTH, "mlflow_server_auth_default_permission": "WRITE"},
        "mlflow_server_auth_default_permission must be one of: READ, EDIT, MANAGE, NO_PERMISSIONS",
    ),
    (
        {**AUTH, "nginx_tls_auth": "basic"},
        "nginx_tls_auth: basic cannot be combined with mlflow_server_auth_enabled",
    ),
    (
        {**AUTH, "mlflow_server_auth_cache_ttl": -1},
        "mlflow_server_auth_cache_ttl: -1 is outside 0-86400",
    ),
    (
        {**AZURE, "mlflow_server_azure_cloud": "germany"},
        "mlflow_server_azure_cloud must be one of: public, china, usgov",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), INVALID, ids=[e for _, e in INVALID])
def test_bad_input_fails_in_preflight(run_playbook, overrides, expected):
    run = _run(run_playbook, overrides)
    assert expected in run.output, run


def test_secrets_are_not_printed_on_failure(run_playbook):
    secret = "S3cr3t-never-printed"
    run = _run(
        run_playbook,
        {
            "mysql_mlflow_password": secret,
            "mlflow_server_db_password": secret,
            "mlflow_server_workers": 0,
        },
    )
    assert secret not in run.output, run


def test_azure_secrets_are_not_printed_on_failure(run_playbook):
    key = "QXp1cmVLZXlOZXZlclByaW50ZWQ="
    run = _run(
        run_playbook,
        {**AZURE, AZ + "account_key": key, AZ + "connection_string": CONN + key},
    )
    assert "two credential kinds" in run.output, run
    assert key not in run.output, run


def test_sqlite_backend_does_not_need_the_mysql_role(run_playbook):
    # Without MySQL the mysql role's input is not checked (its password may stay empty); a bad
    # value elsewhere still fails.
    run = _run(
        run_playbook,
        {
            "mlflow_server_backend": "sqlite",
            "mysql_mlflow_password": "",
            "mlflow_server_db_password": "",
            "mlflow_server_workers": 0,
        },
    )
    assert "mysql_mlflow_password" not in run.output, run
    assert "mlflow_server_workers: 0 must be at least 1" in run.output, run


def test_throttle_and_password_rules_are_checked_all_at_once(run_playbook):
    short = "short pass 12"  # 13 characters: below the 16 a chosen nginx password needs
    run = _run(
        run_playbook,
        {
            "nginx_tls_auth_fail_limit": 0,
            "nginx_tls_auth_fail_rate": 0,
            "nginx_tls_hsts_max_age": -5,
            "nginx_tls_basic_auth_users": [{"name": "alice", "password": short}],
        },
    )
    for expected in (
        "nginx_tls_auth_fail_limit: 0 is outside 1-1000",
        "nginx_tls_auth_fail_rate: 0 is outside 1-600",
        "nginx_tls_hsts_max_age: -5 is negative",
        "nginx_tls_basic_auth_users[0].password: 13 characters; a password you choose needs"
        " at least 16 (nginx_tls_basic_auth_min_password_length)",
    ):
        assert expected in run.output, run
    assert short not in run.output, run


def test_minimum_password_length_cannot_go_below_12(run_playbook):
    run = _run(run_playbook, {"nginx_tls_basic_auth_min_password_length": 8})
    assert "nginx_tls_basic_auth_min_password_length: 8 is below 12" in run.output, run
