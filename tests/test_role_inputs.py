"""Each role's input rules, called the way the action plugin validate_input calls them.

No playbook runs here (a few in test_deploy_input.py prove the wiring): the argument spec of
each role is read from roles/<role>/meta/argument_specs.yml, the values go through its type
checks and then through plugins/module_utils/role_inputs.py. Milliseconds per case.
"""

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.role_inputs import (
    check_capacity,
    role_problems,
    rule_problems,
)
from conftest import ROOT
from fake_arm import SUBSCRIPTION
from role_usage import spec_options
from test_azure_vm import KEY

MISSING = "/nonexistent/server.pem"
NOT_PEM = str(ROOT / "pyproject.toml")
TEST_CA = str(ROOT / "molecule/base/files/test-ca.pem")
AZ = "mlflow_server_azure_"
AUTH = {"mlflow_server_auth_enabled": True, "mlflow_server_auth_admin_password": "adm1n password"}
ALICE = {"name": "alice", "password": "alice password 1"}
AZURE = {"mlflow_server_artifact_store": "azure_blob", AZ + "storage_account": "mlflowacct"}
CONN = (
    "DefaultEndpointsProtocol=https;AccountName=mlflowacct;AccountKey=a2V5;"
    "EndpointSuffix=core.windows.net"
)
# What playbooks/deploy.yml checks on a host with the MySQL backend on the host itself.
VALID = {
    "base_firewall_admin_cidrs": ["192.0.2.0/24"],
    "mlflow_server_backend": "mysql",
    "mysql_mlflow_password": "p@ss:w/rd%#?&[]= ",
    "mlflow_server_db_password": "p@ss:w/rd%#?&[]= ",
}
ROLES = ["base", "mysql", "mlflow_server", "nginx_tls"]
ACME = {
    "nginx_tls_certificate_mode": "acme",
    "nginx_tls_server_names": ["mlflow.example.com"],
    "nginx_tls_acme_email": "mlops@example.com",
}


def options(role, entry_point="all"):
    return spec_options(ROOT / "roles" / role, entry_point)


def read(path):
    """The action plugin's file lookup, for absolute paths."""
    file = Path(path)
    return file.read_text() if file.is_file() else None


def _trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    return value


def role_vars(role, values):
    """The role's variables as a play sees them: its defaults (templated), then `values`."""
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text())
    merged = {"inventory_hostname": "localhost", **defaults, **values}
    templar = Templar(loader=DataLoader(), variables=_trusted(merged))
    return {key: templar.template(_trusted(merged[key])) for key in {**defaults, **values}}


def problems(role, values, entry_point="all"):
    spec = options(role, entry_point)
    given = role_vars(role, values)
    return role_problems(role, spec, {k: v for k, v in given.items() if k in spec}, read)


def preflight(values):
    """Every role of the deploy playbook plus its wiring (playbooks/deploy.yml)."""
    values = {**values}
    port, instances = (
        values.get("mlflow_server_port", 5001),
        values.get("mlflow_server_instances", 2),
    )
    values.setdefault("nginx_tls_upstream_ports", list(range(port, port + instances)))
    values.setdefault(
        "nginx_tls_auth", "none" if values.get("mlflow_server_auth_enabled") else "basic"
    )
    found = [text for role in ROLES for text in problems(role, values)]
    wiring = {
        "mlflow_server_auth_enabled": values.get("mlflow_server_auth_enabled", False),
        "mlflow_server_host": values.get("mlflow_server_host", "127.0.0.1"),
        "mlflow_server_port": values.get("mlflow_server_port", 5001),
        "nginx_tls_auth": values["nginx_tls_auth"],
        "nginx_tls_https_port": values.get("nginx_tls_https_port", 443),
        "nginx_tls_http_port": values.get("nginx_tls_http_port", 80),
        "mlflow_server_instances": values.get("mlflow_server_instances", 2),
        "base_firewall_enabled": values.get("base_firewall_enabled", True),
        "base_firewall_ssh_port": values.get("base_firewall_ssh_port", 22),
        "base_firewall_public_tcp_ports": values.get("base_firewall_public_tcp_ports", [80, 443]),
        "base_firewall_private_tcp_ports": values.get("base_firewall_private_tcp_ports", [5000]),
        "nginx_tls_private_port": values.get("nginx_tls_private_port", 5000),
        "mlflow_server_workers": values.get("mlflow_server_workers", 1),
        "mysql_max_connections": values.get("mysql_max_connections", 100),
    }
    return found + rule_problems("deploy", wiring, read)


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


# (overrides, what one of the problems must say)
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
    ({"mlflow_server_workers": 0}, "mlflow_server_workers: 0 is outside 1-64"),
    ({"mlflow_server_workers": "many"}, "mlflow_server_workers"),
    (
        {"mlflow_server_crypto_kek_version": 0},
        "mlflow_server_crypto_kek_version: 0 is outside 1-1000",
    ),
    (
        {"mlflow_server_crypto_kek_passphrase": "short"},
        "mlflow_server_crypto_kek_passphrase: 5 characters; needs 32 or more",
    ),
    (
        {"mlflow_server_model_catalog_uri": "ftp://mirror/catalog"},
        'mlflow_server_model_catalog_uri: "ftp://mirror/catalog" is neither an http(s) URL',
    ),
    ({"mlflow_server_instances": 0}, "mlflow_server_instances: 0 is outside 1-16"),
    (
        {"mlflow_server_port": 65535},
        "mlflow_server_instances: 2 instances from mlflow_server_port 65535 would need ports past",
    ),
    (
        {"mlflow_server_job_execution_enabled": True},
        "mlflow_server_job_execution_enabled: true needs mlflow_server_instances: 1 (it is 2)",
    ),
    (
        {"mlflow_server_extra_args": ["--static-prefix", "/ml flow"]},
        'mlflow_server_extra_args[1]: "/ml flow" is not allowed; one option or value',
    ),
    (
        {"mlflow_server_extra_args": ["--port=6000"]},
        'mlflow_server_extra_args[0]: "--port=6000" is set by the role',
    ),
    (
        {"mlflow_server_graceful_timeout": 0},
        "mlflow_server_graceful_timeout: 0 is outside 1-3600 (seconds)",
    ),
    (
        {"mlflow_server_proxy_upstream_config": "nginx/up.conf"},
        'mlflow_server_proxy_upstream_config: "nginx/up.conf" must be an absolute path',
    ),
    ({"nginx_tls_upstream_ports": []}, "nginx_tls_upstream_ports: must list at least one port"),
    (
        {"nginx_tls_upstream_ports": [5001, 5001]},
        "nginx_tls_upstream_ports: 5001 is listed more than once",
    ),
    (
        {"nginx_tls_upstream_ports": [80]},
        "nginx_tls_upstream_ports: 80 clashes with a port nginx listens on",
    ),
    ({"mlflow_server_host": "localhost"}, "mlflow_server_host: localhost is not an IP address"),
    (
        {"mlflow_server_port": 443},
        "mlflow_server_port: 443 is the port nginx listens on (nginx_tls_https_port)",
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
    ({"mysql_mlflow_database": "ml-flow"}, 'mysql_mlflow_database: "ml-flow" is not allowed'),
    (
        {"mysql_innodb_buffer_pool_ratio": 0.95},
        "mysql_innodb_buffer_pool_ratio: 0.95 is outside (0, 0.8]",
    ),
    (
        {"nginx_tls_certificate_mode": "letsencrypt"},
        "nginx_tls_certificate_mode must be one of: self_signed, provided, acme",
    ),
    (
        {**ACME, "nginx_tls_acme_email": ""},
        "nginx_tls_acme_email: required with nginx_tls_certificate_mode acme",
    ),
    (
        {**ACME, "nginx_tls_acme_email": "ops"},
        'nginx_tls_acme_email: "ops" is not allowed; an e-mail address',
    ),
    (
        {**ACME, "nginx_tls_server_names": []},
        "nginx_tls_server_names: must list the DNS names of the certificate",
    ),
    (
        {**ACME, "nginx_tls_server_names": ["mlflow.example.com", "203.0.113.7"]},
        "nginx_tls_server_names[1]: 203.0.113.7 is an IP address; an ACME certificate",
    ),
    (
        {**ACME, "nginx_tls_server_names": ["*.example.com"]},
        "nginx_tls_server_names[0]: *.example.com is a wildcard",
    ),
    (
        {**ACME, "nginx_tls_acme_directory_url": "http://ca.internal/directory"},
        'nginx_tls_acme_directory_url: "http://ca.internal/directory" is not an https:// URL',
    ),
    (
        {
            **ACME,
            "nginx_tls_acme_staging": True,
            "nginx_tls_acme_directory_url": "https://ca.internal/dir",
        },
        "nginx_tls_acme_staging: switches Let's Encrypt's directory",
    ),
    ({**ACME, "nginx_tls_acme_eab_kid": "kid-1"}, "nginx_tls_acme_eab_hmac_key: required too"),
    ({**ACME, "nginx_tls_acme_eab_hmac_key": "a" * 40}, "nginx_tls_acme_eab_kid: required too"),
    (
        {**ACME, "nginx_tls_acme_eab_kid": "kid-1", "nginx_tls_acme_eab_hmac_key": "not base64!"},
        "nginx_tls_acme_eab_hmac_key: the value is not allowed; the CA's HMAC key",
    ),
    ({**ACME, "nginx_tls_acme_renew_days": 0}, "nginx_tls_acme_renew_days: 0 is outside 1-180"),
    (
        {**ACME, "nginx_tls_acme_key_type": "ed25519"},
        "nginx_tls_acme_key_type must be one of: ecdsa-p256",
    ),
    (
        {**ACME, "nginx_tls_http_port": 8080},
        "nginx_tls_http_port: 8080: must be 80 with nginx_tls_certificate_mode acme",
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
            "nginx_tls_certificate": NOT_PEM,
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
        "permission must be one of: READ, EDIT, MANAGE, NO_PERMISSIONS, got: WRITE found in"
        " mlflow_server_auth_experiment_permissions",
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
    ({"mlflow_server_backup_keep": 0}, "mlflow_server_backup_keep: 0 is outside 1-1000"),
    ({"mlflow_server_backup_dir": "backups"}, 'mlflow_server_backup_dir: "backups" must be an'),
    (
        {"mlflow_server_backup_name": "../../etc"},
        'mlflow_server_backup_name: "../../etc" is not allowed; a backup\'s directory name',
    ),
    (
        {"mlflow_server_backup_name": "x", "mlflow_server_restore_source": "/tmp/x"},
        "mlflow_server_backup_name: set either it (a backup on the host) or",
    ),
    (
        {"mlflow_server_backup_label": "before upgrade"},
        'mlflow_server_backup_label: "before upgrade" is not allowed',
    ),
    (
        {"mlflow_server_backup_timer_calendar": "daily; rm -rf /"},
        'mlflow_server_backup_timer_calendar: "daily; rm -rf /" is not allowed',
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), INVALID, ids=[e for _, e in INVALID])
def test_bad_input_is_named(overrides, expected):
    found = preflight({**VALID, **overrides})
    assert any(expected in text for text in found), found


# Role base on its own (tests/playbooks/base.yml runs it): (variable, value, message after it)
BASE_VALID = {
    "base_firewall_admin_cidrs": ["192.0.2.0/24"],
    "base_firewall_private_cidrs": ["10.0.0.0/8"],
}
BASE_INVALID = [
    ("base_firewall_admin_cidrs", ["10.0.0.300/8"], "[0]: 10.0.0.300/8 is not"),
    ("base_firewall_admin_cidrs", [], ": must list at least one CIDR"),
    ("base_firewall_private_cidrs", ["10.0.0.0/8", "lan"], "[1]: lan is not"),
    ("base_firewall_public_tcp_ports", [443, 70000], "[1]: 70000 is not a TCP port"),
    ("base_firewall_private_tcp_ports", [0], "[0]: 0 is not a TCP port"),
    ("base_firewall_ssh_port", 65536, ": 65536 is not a TCP port"),
    ("base_firewall_ssh_port", "ssh", " is of type"),
    ("base_firewall_enabled", "maybe", " is of type"),
    (
        "base_extra_ca_certificates",
        ["/nonexistent/ca.pem"],
        "[0]: /nonexistent/ca.pem is not a file",
    ),
    ("base_extra_ca_certificates", ["-----BEGIN PRIVATE KEY-----\nx\n"], "[0]: PEM text holds no"),
    ("base_extra_ca_certificates", [TEST_CA, NOT_PEM], f"[1]: {NOT_PEM} holds no PEM CERTIFICATE"),
    (
        "base_extra_ca_certificates",
        "one.pem",
        ': must be a list (YAML sequence), not the string "one.pem"',
    ),
    (
        "base_packages_extra",
        ["htop", "vim;reboot"],
        '[1]: "vim;reboot" is not a Debian package name',
    ),
]


@pytest.mark.parametrize(("variable", "value", "expected"), BASE_INVALID)
def test_base_names_the_variable(variable, value, expected):
    found = problems("base", {**BASE_VALID, variable: value})
    assert any(
        text.startswith(variable + expected) or (variable in text and expected in text)
        for text in found
    ), found


def test_base_reports_every_problem_at_once():
    found = problems("base", {"base_firewall_admin_cidrs": ["x"], "base_firewall_ssh_port": 0})
    assert found == [
        "base_firewall_admin_cidrs[0]: x is not an IPv4/IPv6 address or CIDR (e.g. 203.0.113.0/24)",
        "base_firewall_ssh_port: 0 is not a TCP port (1-65535)",
    ]


def test_base_ca_trust_entry_point_checks_only_the_certificates():
    # The molecule prepare step trusts the CA before anything else: no firewall input needed.
    assert problems("base", {"base_extra_ca_certificates": [TEST_CA]}, "ca_trust") == []
    assert problems("base", {"base_extra_ca_certificates": [NOT_PEM]}, "ca_trust")


AZURE_VM_VALID = {
    "azure_vm_subscription_id": SUBSCRIPTION,
    "azure_vm_resource_group": "rg-role",
    "azure_vm_dns_label": "mlflow-role-test",
    "azure_vm_admin_cidrs": ["198.51.100.0/24"],
    "azure_vm_ssh_public_key": KEY,
}
AZURE_VM_INVALID = [
    (
        {"azure_vm_dns_label": "MLflow_1"},
        'azure_vm_dns_label: "MLflow_1" breaks the Azure rule',
    ),
    ({"azure_vm_dns_label": "-x"}, 'azure_vm_dns_label: "-x" breaks the Azure rule'),
    ({"azure_vm_location": "West Europe"}, 'azure_vm_location: "West Europe" is not a region'),
    (
        {"azure_vm_admin_cidrs": ["10.0.0.300/24"]},
        'azure_vm_admin_cidrs[0]: "10.0.0.300/24" is not',
    ),
    ({"azure_vm_admin_cidrs": ["0.0.0.0/0"]}, "0.0.0.0/0 opens SSH to the whole Internet"),
    ({"azure_vm_admin_cidrs": []}, "azure_vm_admin_cidrs: required"),
    (
        {"azure_vm_ssh_public_key": "not a key"},
        "azure_vm_ssh_public_key: not an OpenSSH public key",
    ),
    (
        {"azure_vm_ssh_public_key": "", "azure_vm_ssh_public_key_file": "/nonexistent.pub"},
        "azure_vm_ssh_public_key: missing (and /nonexistent.pub is not readable)",
    ),
    (
        {"azure_vm_storage_account": "Mlflow-Artifacts"},
        'azure_vm_storage_account: "Mlflow-Artifacts" breaks',
    ),
    (
        {"azure_vm_subscription_id": "my-sub"},
        'azure_vm_subscription_id: "my-sub" is not a subscription id',
    ),
    ({"azure_vm_image": "centos"}, "azure_vm_image must be one of: debian12, ubuntu2404"),
    ({"azure_vm_storage_soft_delete_days": 0}, "azure_vm_storage_soft_delete_days: 0 is outside"),
]


def test_azure_vm_valid_input_has_no_problem():
    assert problems("azure_vm", AZURE_VM_VALID) == []


@pytest.mark.parametrize(
    ("overrides", "expected"), AZURE_VM_INVALID, ids=[e for _, e in AZURE_VM_INVALID]
)
def test_azure_vm_names_the_variable(overrides, expected):
    found = problems("azure_vm", {**AZURE_VM_VALID, **overrides})
    assert any(expected in text for text in found), found


@pytest.mark.parametrize(
    ("cidrs", "client", "locked_out"),
    [
        (["192.0.2.0/24"], "192.0.2.77", False),
        (["198.51.100.1", "192.0.2.7/32"], "192.0.2.7", False),
        (["2001:db8::/32"], "2001:db8::5", False),
        (["192.0.2.0/24", "2001:db8::/32"], "203.0.113.9", True),
        (["192.0.2.0/24"], "", False),  # a local or docker connection: no SSH client
    ],
)
def test_base_lockout(cidrs, client, locked_out):
    found = rule_problems(
        "base_lockout", {"base_firewall_admin_cidrs": cidrs, "client": client}, read
    )
    assert bool(found) == locked_out, found
    if locked_out:
        assert f"does not contain {client}" in found[0]
        assert f"(e.g. {client}/32) or set base_firewall_lockout_check: false" in found[0]


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
