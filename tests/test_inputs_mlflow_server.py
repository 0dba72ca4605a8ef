"""Role mlflow_server's input rules: each bad value is named, with what is allowed (through the
preflight of every role, as playbooks/validate.yml runs it)."""

import pytest
from inputs_support import (
    ALICE,
    AUTH,
    AZ,
    AZURE,
    CONN,
    MISSING,
    VALID,
    preflight,
)

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


# Several hosts serving one MLflow: what they share must live off the hosts.
CLUSTER = {
    "mlflow_server_cluster_hosts": ["mlflow-1", "mlflow-2"],
    "mlflow_server_backend": "postgresql",
    "mlflow_server_db_host": "pg.example.com",
    **AZURE,
}


def test_a_cluster_on_shared_postgresql_and_blob_is_valid():
    assert preflight({**VALID, **CLUSTER, **AUTH}) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"mlflow_server_backend": "sqlite"},
            "mlflow_server_backend: sqlite cannot serve 2 hosts (mlflow_server_cluster_hosts:"
            " mlflow-1, mlflow-2): each would have its own runs and users",
        ),
        (
            {"mlflow_server_db_host": "127.0.0.1"},
            "mlflow_server_db_host: 127.0.0.1 (a database on each host) cannot serve 2 hosts",
        ),
        (
            {"mlflow_server_artifact_store": "local"},
            "mlflow_server_artifact_store: local cannot serve 2 hosts",
        ),
        (
            {"mlflow_server_backend": "mysql", **AUTH},
            "mlflow_server_auth_enabled: true with backend mysql cannot serve 2 hosts",
        ),
        (
            {"mlflow_server_job_execution_enabled": True, "mlflow_server_instances": 1},
            "mlflow_server_job_execution_enabled: true cannot serve 2 hosts",
        ),
        (
            {"mlflow_server_cluster_hosts": ["mlflow-1", "mlflow-1"]},
            "mlflow_server_cluster_hosts: names a host more than once",
        ),
    ],
)
def test_a_cluster_refuses_what_one_host_would_keep_to_itself(overrides, expected):
    found = preflight({**VALID, **CLUSTER, **overrides})
    assert any(expected in text for text in found), found


def test_pools_must_fit_the_database_connection_limit():
    # Azure's Burstable B1ms: 50 connections, 15 reserved.
    sizes = {"mlflow_server_db_max_connections": 35, **AUTH}
    found = preflight({**VALID, **CLUSTER, **sizes})
    assert (
        "mlflow_server_db_max_connections: 35 is fewer than MLflow may open: 2 host(s) x 2"
        " instances x 1 workers x 3 pools (tracking, registry, auth) x (5"
        " mlflow_server_db_pool_size + 10 mlflow_server_db_max_overflow), + 10 for backups and"
        " tools = 190"
    ) in " ".join(found)
    small = {**sizes, "mlflow_server_db_pool_size": 1, "mlflow_server_db_max_overflow": 1}
    assert preflight({**VALID, **CLUSTER, **small}) == []  # 2 x 2 x 1 x 3 x 2 + 10 = 34
    zero = {**small, "mlflow_server_db_max_overflow": 0}
    assert any(
        "mlflow_server_db_max_overflow: 0 is outside 1-100" in text
        for text in preflight({**VALID, **CLUSTER, **zero})
    )


# Auth mode oidc (sign-in with an OpenID provider): a valid setting, then each bad value.
OIDC = {
    "mlflow_server_backend": "sqlite",
    "mlflow_server_auth_enabled": True,
    "mlflow_server_auth_app": "oidc-auth",
    "mlflow_server_public_names": ["mlflow.example.com"],
    "mlflow_server_oidc_discovery_url": "https://login.example.com/tenant/v2.0/.well-known/openid-configuration",
    "mlflow_server_oidc_client_id": "0b6c1a52-7a53-4f36-9d1e-0a1b2c3d4e5f",
    "mlflow_server_oidc_client_secret": "a client secret~with:odd chars",
    "mlflow_server_oidc_user_groups": ["mlflow-users"],
    "mlflow_server_oidc_admin_groups": ["mlflow-admins"],
    "mlflow_server_oidc_group_permissions": [
        {"group": "team-a", "experiments": "team-a/", "permission": "EDIT"},
        {"group": "team-a", "models": "team-a-", "permission": "READ"},
    ],
}


def test_sign_in_with_a_provider_is_valid_without_an_admin_password():
    assert preflight({**VALID, **OIDC}) == []


OIDC_INVALID = [
    (
        {
            "mlflow_server_oidc_discovery_url": "http://login.example.com/.well-known/openid-configuration"
        },
        'mlflow_server_oidc_discovery_url: "http://login.example.com/.well-known/openid-configuration"'
        " is not an https:// URL",
    ),
    ({"mlflow_server_oidc_discovery_url": ""}, "mlflow_server_oidc_discovery_url: required with"),
    ({"mlflow_server_oidc_client_secret": ""}, "mlflow_server_oidc_client_secret: required with"),
    ({"mlflow_server_oidc_client_id": ""}, "mlflow_server_oidc_client_id: required with"),
    (
        {"mlflow_server_oidc_groups_claim": "my groups"},
        'mlflow_server_oidc_groups_claim: "my groups" is not allowed',
    ),
    ({"mlflow_server_oidc_admin_groups": []}, "mlflow_server_oidc_admin_groups: name at least one"),
    (
        {"mlflow_server_oidc_user_groups": ["data team"]},
        'mlflow_server_oidc_user_groups[0]: "data team" is not allowed',
    ),
    ({"mlflow_server_oidc_scopes": ["email"]}, "mlflow_server_oidc_scopes: must include openid"),
    (
        {"mlflow_server_public_names": []},
        "mlflow_server_oidc_redirect_uri: empty, and mlflow_server_public_names names no host",
    ),
    (
        {"mlflow_server_oidc_redirect_uri": "http://mlflow.example.com/callback"},
        'mlflow_server_oidc_redirect_uri: "http://mlflow.example.com/callback" is not an https://',
    ),
    (
        {
            "mlflow_server_oidc_group_permissions": [
                {"group": "a", "experiments": "(", "permission": "READ"}
            ]
        },
        'mlflow_server_oidc_group_permissions[0].experiments: "(" is not a regular expression',
    ),
    (
        {
            "mlflow_server_oidc_group_permissions": [
                {"group": "a", "experiments": "x", "models": "y", "permission": "READ"}
            ]
        },
        "mlflow_server_oidc_group_permissions[0]: give exactly one of experiments and models",
    ),
    (
        {"mlflow_server_auth_users": [ALICE]},
        "mlflow_server_auth_users: applies to auth mode mlflow only",
    ),
    (
        {"mlflow_server_auth_enabled": False},
        "mlflow_server_auth_app: oidc-auth needs mlflow_server_auth_enabled: true",
    ),
    (
        {"mlflow_server_version": "3.15.1"},
        "mlflow_server_version: 3.15.1 is older than 3.16, the oldest MLflow mlflow-oidc-auth",
    ),
    (
        {"mlflow_server_oidc_sqlite_path": "/var/lib/mlflow/mlflow.db"},
        "mlflow_server_oidc_sqlite_path: must differ from mlflow_server_sqlite_path",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), OIDC_INVALID, ids=[e for _, e in OIDC_INVALID])
def test_bad_sign_in_settings_are_named(overrides, expected):
    found = preflight({**VALID, **OIDC, **overrides})
    assert any(expected in text for text in found), found
    assert not any("not a real" in text or "odd chars" in text for text in found)
