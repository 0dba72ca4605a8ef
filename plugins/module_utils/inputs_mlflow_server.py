# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Role mlflow_server: version and packages, paths, database, artifacts, auth, network, instances, service, backups.

Rules in the form of plugins/module_utils/role_inputs.py (which lists them in ``CHECKS``): ``v``
holds the variables after the argument spec's type checks, ``read(path)`` a controller file's
text or None; the result is a list of messages, each starting with its variable.
"""

from __future__ import annotations

import re

try:  # Loaded by Ansible as collection content, or by the tests from .cache/collections.
    from ansible_collections.mlflow_provision.tracking.plugins.module_utils import input_rules as r
except ImportError:  # pragma: no cover - ansible-test sanity imports it by this path too
    from . import input_rules as r  # type: ignore[no-redef]


def check_mlflow_server(v, read):
    p = r.Problems()
    _packages(p, v)
    _paths_and_account(p, v)
    if v["mlflow_server_backend"] != "sqlite":
        _database(p, v, read)
        _pools(p, v)
    if len(v["mlflow_server_cluster_hosts"]) > 1:
        _cluster(p, v)
    for key, value in (v["mlflow_server_db_options"] or {}).items():
        name = "mlflow_server_db_options"
        if re.fullmatch(r"[a-z_]+", str(key)) is None or key in (
            "sslmode",
            "sslrootcert",
            "charset",
        ):
            p.add(
                name,
                f'"{key}" is not allowed (lowercase option names; sslmode, sslrootcert and charset come from the role)',
            )
        else:
            p.check(f"{name}.{key}", value, r.printable)
    if v["mlflow_server_artifact_store"] == "azure_blob":
        _azure_blob(p, v)
    else:
        p.check(
            "mlflow_server_artifacts_destination",
            v["mlflow_server_artifacts_destination"],
            r.absolute_path,
        )
    if v["mlflow_server_auth_enabled"] and v["mlflow_server_auth_app"] == "oidc-auth":
        _oidc(p, v)
    elif v["mlflow_server_auth_enabled"]:
        _auth(p, v)
    elif v["mlflow_server_auth_app"] == "oidc-auth":
        p.add(
            "mlflow_server_auth_app",
            "oidc-auth needs mlflow_server_auth_enabled: true (auth mode oidc); without it nginx"
            " asks for its own passwords and nobody signs in",
        )
    _network(p, v)
    _service(p, v)
    _ai_gateway(p, v)
    _backups(p, v)
    return p.items


def _ai_gateway(p, v):
    kek = v["mlflow_server_crypto_kek_passphrase"]
    if kek:
        text = r.password(kek, 32, "MLflow asks for a high-entropy passphrase")
        if text:
            p.add("mlflow_server_crypto_kek_passphrase", text)
    p.check(
        "mlflow_server_crypto_kek_version",
        v["mlflow_server_crypto_kek_version"],
        r.in_range,
        1,
        1000,
        "1, then one more after each `mlflow crypto rotate-kek`",
    )
    uri = v["mlflow_server_model_catalog_uri"]
    if uri and not (
        r.http_url(uri) is None or re.fullmatch(r"file:///[A-Za-z0-9._/-]*", uri) is not None
    ):
        p.add(
            "mlflow_server_model_catalog_uri",
            f'"{uri}" is neither an http(s) URL nor file:///<absolute path>; or leave it empty'
            " for the catalog shipped with MLflow",
        )


def _packages(p, v):
    version = v["mlflow_server_version"]
    if p.check("mlflow_server_version", version, r.release_version, "3.17.2") and r.version_tuple(
        version
    ) < (3, 11):
        p.add(
            "mlflow_server_version",
            f"{version} is older than 3.11, which misses security fixes; use 3.11.0 or newer",
        )
    p.check("mlflow_server_uv_version", v["mlflow_server_uv_version"], r.release_version, "0.13.9")
    for name in ("mlflow_server_packages", "mlflow_server_packages_extra"):
        p.each(name, v[name], r.pip_requirement)
    if v["mlflow_server_index_url"]:
        p.check("mlflow_server_index_url", v["mlflow_server_index_url"], r.http_url, secret=True)
    p.each(
        "mlflow_server_extra_index_urls",
        v["mlflow_server_extra_index_urls"],
        r.http_url,
        secret=True,
    )


def _paths_and_account(p, v):
    for name in ("mlflow_server_user", "mlflow_server_group"):
        p.check(name, v[name], r.account_name)
    paths = ["install_dir", "config_dir", "state_dir", "log_dir"]
    if v["mlflow_server_backend"] == "sqlite":
        paths.append("sqlite_path")
    if v["mlflow_server_auth_enabled"] and v["mlflow_server_backend"] != "postgresql":
        paths.append(
            "oidc_sqlite_path" if v["mlflow_server_auth_app"] == "oidc-auth" else "auth_sqlite_path"
        )
    for name in paths:
        p.check(f"mlflow_server_{name}", v[f"mlflow_server_{name}"], r.absolute_path)


def _database(p, v, read):
    backend = v["mlflow_server_backend"]
    if not v["mlflow_server_db_password"]:
        p.add("mlflow_server_db_password", f"required for backend {backend}, must not be empty")
    else:
        p.check(
            "mlflow_server_db_password", v["mlflow_server_db_password"], r.printable, secret=True
        )
    for name in ("mlflow_server_db_host", "mlflow_server_db_name", "mlflow_server_db_user"):
        if not v[name]:
            p.add(name, f"required for backend {backend}, must not be empty")
        elif name == "mlflow_server_db_host":
            p.check(name, v[name], r.host)
        else:
            p.check(name, v[name], r.printable)
    p.check("mlflow_server_db_port", v["mlflow_server_db_port"], r.tcp_port)
    if backend != "postgresql":
        return
    ca, mode = v["mlflow_server_db_ssl_ca"], v["mlflow_server_db_sslmode"]
    if mode in ("verify-ca", "verify-full") and not ca:
        p.add(
            "mlflow_server_db_ssl_ca",
            f"required with mlflow_server_db_sslmode {mode} (a path on the controller or PEM text"
            " of the CA that signed the server certificate)",
        )
    elif ca:
        p.check("mlflow_server_db_ssl_ca", ca, r.pem, "CERTIFICATE", read)
    if v["mlflow_server_db_admin_user"]:
        if not v["mlflow_server_db_admin_password"]:
            p.add(
                "mlflow_server_db_admin_password",
                "required when mlflow_server_db_admin_user is set",
            )
        for name in ("mlflow_server_db_admin_user", "mlflow_server_db_admin_database"):
            p.check(name, v[name], r.printable, required=True)
        p.check(
            "mlflow_server_db_admin_password",
            v["mlflow_server_db_admin_password"],
            r.printable,
            secret=True,
        )


# SQLAlchemy engines a worker may open on the database server: tracking, model registry, and
# the auth app's own database (MLflow keeps one engine per store class and URI).
def pools_per_worker(v) -> int:
    return 3 if v["mlflow_server_auth_enabled"] else 2


def _pools(p, v):
    ok = p.check("mlflow_server_db_pool_size", v["mlflow_server_db_pool_size"], r.in_range, 1, 100)
    ok = (
        p.check(
            "mlflow_server_db_max_overflow", v["mlflow_server_db_max_overflow"], r.in_range, 1, 100
        )
        and ok
    )
    limit = v["mlflow_server_db_max_connections"]
    if (
        not p.check("mlflow_server_db_max_connections", limit, r.in_range, 0, 100000)
        or not ok
        or not limit
    ):
        return
    hosts = max(len(v["mlflow_server_cluster_hosts"]), 1)
    instances, workers = v["mlflow_server_instances"], v["mlflow_server_workers"]
    engines = pools_per_worker(v)
    each = v["mlflow_server_db_pool_size"] + v["mlflow_server_db_max_overflow"]
    needed = hosts * instances * workers * engines * each + 10
    if needed > limit:
        p.add(
            "mlflow_server_db_max_connections",
            f"{limit} is fewer than MLflow may open: {hosts} host(s) x {instances} instances x"
            f" {workers} workers x {engines} pools (tracking, registry"
            f"{', auth' if engines == 3 else ''}) x ({v['mlflow_server_db_pool_size']}"
            f" mlflow_server_db_pool_size + {v['mlflow_server_db_max_overflow']}"
            f" mlflow_server_db_max_overflow), + 10 for backups and tools = {needed}: lower the"
            " pool sizes or the workers, or use a database that accepts more connections",
        )


def _cluster(p, v):
    """Several hosts serve one MLflow: everything they share must live off the hosts."""
    hosts = v["mlflow_server_cluster_hosts"]
    count = f"{len(hosts)} hosts (mlflow_server_cluster_hosts: {', '.join(hosts)})"
    backend = v["mlflow_server_backend"]
    if backend == "sqlite":
        p.add(
            "mlflow_server_backend",
            f"sqlite cannot serve {count}: each would have its own runs and users. Use a"
            " PostgreSQL (or MySQL) server all of them reach (mlflow_server_db_host)",
        )
    elif str(v["mlflow_server_db_host"]).strip() in ("127.0.0.1", "localhost", "::1"):
        p.add(
            "mlflow_server_db_host",
            f"{v['mlflow_server_db_host']} (a database on each host) cannot serve {count}: use a"
            " database server all of them reach",
        )
    if backend == "mysql" and v["mlflow_server_auth_enabled"]:
        p.add(
            "mlflow_server_auth_enabled",
            f"true with backend mysql cannot serve {count}: the auth app's users would live in a"
            " SQLite file on each host (MLflow's auth migrations fail on MySQL). Use backend"
            " postgresql, whose server holds the auth database too",
        )
    if v["mlflow_server_artifact_store"] != "azure_blob":
        p.add(
            "mlflow_server_artifact_store",
            f"{v['mlflow_server_artifact_store']} cannot serve {count}: an artifact uploaded"
            " through one host would be missing on the others. Use azure_blob",
        )
    if len(set(hosts)) != len(hosts):
        p.add("mlflow_server_cluster_hosts", "names a host more than once")
    if v["mlflow_server_job_execution_enabled"]:
        p.add(
            "mlflow_server_job_execution_enabled",
            f"true cannot serve {count}: MLflow queues a GenAI job in the process that took the"
            " request and refuses it where job execution is off, so behind a load balancer"
            " jobs would fail or run twice. Run GenAI jobs on a standalone host",
        )


def azure_account(v) -> str:
    """The storage account: the variable, else the AccountName of the connection string."""
    return (v["mlflow_server_azure_storage_account"] or _connection_account(v)).strip()


def _connection_account(v) -> str:
    found = re.search(
        r"(?:^|;)\s*AccountName=([^;]+)", v["mlflow_server_azure_connection_string"] or ""
    )
    return found.group(1) if found else ""


def _azure_blob(p, v):
    az = "mlflow_server_azure_"
    account, named = azure_account(v), _connection_account(v)
    if not account:
        p.add(
            f"{az}storage_account",
            "required for mlflow_server_artifact_store azure_blob (or a connection string that names the account)",
        )
    elif (
        p.check(f"{az}storage_account", account, r.azure_storage_account)
        and named
        and named != account
    ):
        p.add(
            f"{az}storage_account",
            f'"{account}" differs from the account the connection string names ("{named}")',
        )
    p.check(f"{az}container", v[f"{az}container"], r.azure_container)
    prefix = v[f"{az}path_prefix"]
    if re.fullmatch(r"[A-Za-z0-9._/-]*", prefix) is None or ".." in prefix:
        p.add(
            f"{az}path_prefix",
            f'"{prefix}" may hold letters, digits, ".", "_", "-" and "/" only, and no ".."',
        )
    kinds = [
        f"{az}{kind}"
        for kind in ("connection_string", "account_key", "client_id")
        if v[f"{az}{kind}"]
    ]
    if len(kinds) > 1:
        p.add(
            " and ".join(kinds),
            "two credential kinds given at once; give one of a connection string, an account key,"
            " or (neither) the managed identity with an optional client id",
        )
    if v[f"{az}client_id"]:
        p.check(f"{az}client_id", v[f"{az}client_id"], r.guid)
    for name in ("connection_string", "account_key"):
        p.check(f"{az}{name}", v[f"{az}{name}"], r.printable, secret=True)
    endpoint = v[f"{az}blob_endpoint"]
    if endpoint and p.check(f"{az}blob_endpoint", endpoint, r.http_url):
        if v[f"{az}connection_string"]:
            p.add(
                f"{az}blob_endpoint",
                f"not used with a connection string; put BlobEndpoint=... into {az}connection_string",
            )
        elif not v[f"{az}account_key"]:
            p.add(
                f"{az}blob_endpoint",
                f"needs {az}account_key; with the managed identity MLflow reaches the account"
                f" at the endpoint of {az}cloud",
            )


def _auth(p, v):
    admin_password = v["mlflow_server_auth_admin_password"]
    if not admin_password:
        p.add(
            "mlflow_server_auth_admin_password",
            "required with mlflow_server_auth_enabled (12 characters or more)",
        )
    elif admin_password == "password1234":  # noqa: S105 - the published default, refused
        p.add(
            "mlflow_server_auth_admin_password",
            "is the default password older MLflow releases published; choose another (12 characters or more)",
        )
    elif r.password(admin_password, 12, "MLflow password rule"):
        p.add(
            "mlflow_server_auth_admin_password",
            "must be 12 printable characters or more (MLflow password rule)",
        )
    admin = v["mlflow_server_auth_admin_username"]
    if not admin:
        p.add("mlflow_server_auth_admin_username", "must not be empty")
    else:
        p.check(
            "mlflow_server_auth_admin_username",
            admin,
            r.matches,
            r"[^\s:\x00-\x1f\x7f]{1,64}",
            'use 1-64 printable characters without ":" or spaces',
        )
    users = v["mlflow_server_auth_users"] or []
    names = [user.get("name") for user in users]
    for name in r.duplicates(names):
        p.add("mlflow_server_auth_users", f'the user "{name}" is listed more than once')
    for index, user in enumerate(users):
        where, name = f"mlflow_server_auth_users[{index}]", str(user.get("name") or "")
        if name == admin:
            p.add(
                where,
                f'"{name}" is the admin account, managed by mlflow_server_auth_admin_username/_password',
            )
        elif not name or re.search(r"[:\s\x00-\x1f\x7f]", name):
            p.add(f"{where}.name", f'"{name}" must be non-empty, without ":" or spaces')
        text = r.password(user.get("password"), 12, "MLflow password rule")
        if text:
            p.add(
                f"{where}.password",
                f'user "{name}" needs 12 characters or more, printable only (MLflow password rule)',
            )
    for kind in ("experiment", "model"):
        var = f"mlflow_server_auth_{kind}_permissions"
        for grant in v[var] or []:
            if grant.get("user") not in names:
                p.add(var, f'user "{grant.get("user")}" is not in mlflow_server_auth_users')
    if v["mlflow_server_backend"] == "postgresql":
        if v["mlflow_server_auth_db_name"] == v["mlflow_server_db_name"]:
            p.add(
                "mlflow_server_auth_db_name",
                "must differ from mlflow_server_db_name (the auth app needs its own database)",
            )
        else:
            p.check(
                "mlflow_server_auth_db_name",
                v["mlflow_server_auth_db_name"],
                r.printable,
                required=True,
            )
    elif v["mlflow_server_auth_sqlite_path"] == v["mlflow_server_sqlite_path"]:
        p.add("mlflow_server_auth_sqlite_path", "must differ from mlflow_server_sqlite_path")
    p.check(
        "mlflow_server_auth_cache_ttl",
        v["mlflow_server_auth_cache_ttl"],
        r.in_range,
        0,
        86400,
        "seconds a worker keeps a verified credential; 0 = no cache",
    )


# The groups claim and group names end up in comma-separated settings of the oidc app.
_GROUP = re.compile(r"[^\s,\x00-\x1f\x7f]{1,256}")


def _oidc(p, v):
    """Auth mode oidc: the provider, the app registration, the groups, the declared grants."""
    o = "mlflow_server_oidc_"
    url = v[f"{o}discovery_url"]
    if not url:
        p.add(
            f"{o}discovery_url",
            "required with mlflow_server_auth_app oidc-auth (the provider's"
            " OpenID configuration, e.g. https://login.microsoftonline.com/<tenant id>/v2.0/"
            ".well-known/openid-configuration)",
        )
    else:
        p.check(f"{o}discovery_url", url, r.http_url, https_only=True)
    if not v[f"{o}client_id"]:
        p.add(
            f"{o}client_id",
            "required with mlflow_server_auth_app oidc-auth (the app registration's client id)",
        )
    else:
        p.check(f"{o}client_id", v[f"{o}client_id"], r.token, "client id")
    if not v[f"{o}client_secret"]:
        p.add(
            f"{o}client_secret",
            "required with mlflow_server_auth_app oidc-auth (a client secret of the app"
            " registration; keep it in a vault)",
        )
    else:
        p.check(f"{o}client_secret", v[f"{o}client_secret"], r.printable, secret=True)
    if "openid" not in (v[f"{o}scopes"] or []):
        p.add(f"{o}scopes", "must include openid")
    p.each(
        f"{o}scopes",
        v[f"{o}scopes"],
        r.matches,
        r"[\x21-\x7e]{1,128}",
        "a scope: printable, no spaces",
    )
    p.check(
        f"{o}groups_claim",
        v[f"{o}groups_claim"],
        r.matches,
        r"[A-Za-z0-9_.:/-]{1,128}",
        "a claim name: letters, digits and _ . : / - (no spaces)",
    )
    for kind in ("user", "admin"):
        name = f"{o}{kind}_groups"
        if not v[name]:
            p.add(
                name,
                f"name at least one group whose members {'may sign in' if kind == 'user' else 'administer MLflow'}",
            )
        p.each(name, v[name], r.matches, _GROUP.pattern, "a group name without spaces or commas")
    redirect = v[f"{o}redirect_uri"]
    if redirect:
        p.check(f"{o}redirect_uri", redirect, r.http_url, https_only=True)
    elif not v["mlflow_server_public_names"]:
        p.add(
            f"{o}redirect_uri",
            "empty, and mlflow_server_public_names names no host to derive"
            " https://<name>/callback from: set one of them",
        )
    p.check(f"{o}provider_name", v[f"{o}provider_name"], r.printable, required=True)
    if p.check(f"{o}version", v[f"{o}version"], r.release_version, "10.1.3"):
        version = str(v["mlflow_server_version"])
        if r.release_version(version, "3.17.2") is None and r.version_tuple(version) < (3, 16):
            p.add(
                "mlflow_server_version",
                f"{version} is older than 3.16, the oldest MLflow mlflow-oidc-auth"
                f" {v[f'{o}version']} supports (auth mode oidc)",
            )
    seen = set()
    for index, grant in enumerate(v[f"{o}group_permissions"] or []):
        where = f"{o}group_permissions[{index}]"
        kinds = [k for k in ("experiments", "models") if grant.get(k)]
        if len(kinds) != 1:
            p.add(where, "give exactly one of experiments and models (a pattern over names)")
            continue
        pattern = grant[kinds[0]]
        try:
            re.compile(pattern)
        except re.error as exc:
            p.add(f"{where}.{kinds[0]}", f'"{pattern}" is not a regular expression ({exc})')
        if not _GROUP.fullmatch(str(grant.get("group") or "")):
            p.add(
                f"{where}.group",
                f'"{grant.get("group")}" is not a group name (no spaces or commas)',
            )
        key = (grant.get("group"), kinds[0], pattern)
        if key in seen:
            p.add(where, f'group "{key[0]}" has two grants on {kinds[0]} matching "{pattern}"')
        seen.add(key)
    for name in ("users", "experiment_permissions", "model_permissions"):
        if v[f"mlflow_server_auth_{name}"]:
            p.add(
                f"mlflow_server_auth_{name}",
                "applies to auth mode mlflow only; with oidc-auth people"
                " come from the provider: grant groups with mlflow_server_oidc_group_permissions",
            )
    if v["mlflow_server_backend"] == "postgresql":
        if v[f"{o}db_name"] in (v["mlflow_server_db_name"], v["mlflow_server_auth_db_name"]):
            p.add(
                f"{o}db_name",
                "must differ from mlflow_server_db_name and mlflow_server_auth_db_name",
            )
        else:
            p.check(f"{o}db_name", v[f"{o}db_name"], r.printable, required=True)
    elif v[f"{o}sqlite_path"] in (
        v["mlflow_server_sqlite_path"],
        v["mlflow_server_auth_sqlite_path"],
    ):
        p.add(
            f"{o}sqlite_path",
            "must differ from mlflow_server_sqlite_path and mlflow_server_auth_sqlite_path",
        )


def _network(p, v):
    p.check(
        "mlflow_server_host",
        v["mlflow_server_host"],
        r.ip_address,
        " (127.0.0.1 behind the proxy, 0.0.0.0 for all)",
    )
    p.check("mlflow_server_port", v["mlflow_server_port"], r.tcp_port)
    p.each("mlflow_server_public_ports", v["mlflow_server_public_ports"], r.tcp_port)
    p.each("mlflow_server_public_names", v["mlflow_server_public_names"], r.dns_name)
    p.each(
        "mlflow_server_allowed_hosts_extra",
        v["mlflow_server_allowed_hosts_extra"],
        r.token,
        "Host pattern",
    )
    p.each("mlflow_server_cors_allowed_origins", v["mlflow_server_cors_allowed_origins"], r.origin)


def _instances(p, v):
    instances = v["mlflow_server_instances"]
    if not p.check("mlflow_server_instances", instances, r.in_range, 1, 16):
        return
    port = v["mlflow_server_port"]
    if r.tcp_port(port) is None and port + instances - 1 > 65535:
        p.add(
            "mlflow_server_instances",
            f"{instances} instances from mlflow_server_port {port} would need ports past 65535",
        )
    if v["mlflow_server_job_execution_enabled"] and instances != 1:
        p.add(
            "mlflow_server_job_execution_enabled",
            f"true needs mlflow_server_instances: 1 (it is {instances}): MLflow queues jobs in a"
            " directory of the process that runs the job runner, so a job submitted to another"
            " instance would fail, and each runner would run every pending job again",
        )
    for name, lo in (("mlflow_server_graceful_timeout", 1), ("mlflow_server_drain_timeout", 0)):
        p.check(name, v[name], r.in_range, lo, 3600, "seconds")
    upstream = v["mlflow_server_proxy_upstream_config"]
    if upstream:
        p.check("mlflow_server_proxy_upstream_config", upstream, r.absolute_path)
    p.each(
        "mlflow_server_extra_args",
        v["mlflow_server_extra_args"],
        r.matches,
        r"[A-Za-z0-9_./:=@+,-]+",
        "one option or value: letters, digits and _ . / : = @ + , - only",
    )
    managed = {
        "--host", "--port", "--workers", "--app-name", "--serve-artifacts", "--no-serve-artifacts",
        "--artifacts-destination", "--allowed-hosts", "--cors-allowed-origins", "--uvicorn-opts",
        "--backend-store-uri", "--gunicorn-opts", "--waitress-opts", "--dev",
    }  # fmt: skip
    for index, arg in enumerate(v["mlflow_server_extra_args"] or []):
        if str(arg).split("=", 1)[0] in managed:
            p.add(
                f"mlflow_server_extra_args[{index}]",
                f'"{arg}" is set by the role (from its mlflow_server_* variables); remove it',
            )


# What one uvicorn worker of MLflow 3.17 holds (RSS after a load of `make bench`: ~250 MB), with
# a margin, and the SQLAlchemy pool each worker may open (MLflow's defaults: 5 + 10 overflow).
WORKER_MB = 300
WORKER_DB_CONNECTIONS = 15
# No host this role targets holds more than this many workers in all (64 vCPUs at 4 each).
MAX_WORKERS_PER_HOST = 256


def _service(p, v):
    p.check("mlflow_server_workers", v["mlflow_server_workers"], r.in_range, 1, 64)
    total = v["mlflow_server_workers"] * v["mlflow_server_instances"]
    if total > MAX_WORKERS_PER_HOST:
        p.add(
            "mlflow_server_workers",
            f"{v['mlflow_server_instances']} instances of {v['mlflow_server_workers']} workers"
            f" ({total} processes) exceed {MAX_WORKERS_PER_HOST} per host",
        )
    _instances(p, v)
    p.each(
        "mlflow_server_after_units",
        v["mlflow_server_after_units"],
        r.matches,
        r"[A-Za-z0-9:_.@-]+\.(service|socket|target|mount)",
        "a systemd unit name (e.g. mariadb.service)",
    )
    p.check(
        "mlflow_server_health_timeout",
        v["mlflow_server_health_timeout"],
        r.in_range,
        1,
        None,
        "seconds",
    )
    for name in ("mlflow_server_log_format", "mlflow_server_log_file_format"):
        p.check(name, v[name], r.printable, required=True)
    p.check(
        "mlflow_server_log_file_max_bytes",
        v["mlflow_server_log_file_max_bytes"],
        r.in_range,
        1024,
        None,
        "bytes",
    )
    p.check(
        "mlflow_server_log_file_backups", v["mlflow_server_log_file_backups"], r.in_range, 0, 1000
    )
    for name, value in (v["mlflow_server_environment_extra"] or {}).items():
        var = "mlflow_server_environment_extra"
        if r.env_name(name):
            p.add(var, r.env_name(name))
        elif name == "MLFLOW_BACKEND_STORE_URI":
            p.add(
                var,
                "MLFLOW_BACKEND_STORE_URI is built by the role from mlflow_server_backend and mlflow_server_db_*",
            )
        elif r.printable(value, secret=True):
            p.add(f"{var}.{name}", r.printable(value, secret=True))


# Backup names are directory names: `mlflow-host backup` allows the same.
_BACKUP_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"


def _backups(p, v):
    p.check("mlflow_server_backup_dir", v["mlflow_server_backup_dir"], r.absolute_path)
    p.check(
        "mlflow_server_gc_retention_days",
        v["mlflow_server_gc_retention_days"],
        r.in_range,
        0,
        36500,
        "days (0 = never purge)",
    )
    p.check("mlflow_server_backup_keep", v["mlflow_server_backup_keep"], r.in_range, 1, 1000)
    p.check(
        "mlflow_server_backup_label",
        v["mlflow_server_backup_label"],
        r.matches,
        r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}",
        "up to 41 letters, digits, '.', '_' and '-' (e.g. manual, before-migration)",
    )
    for name in ("mlflow_server_backup_timer_calendar", "mlflow_server_gc_timer_calendar"):
        p.check(
            name,
            v[name],
            r.matches,
            r"[A-Za-z0-9*:,./~ +-]+",
            "a systemd OnCalendar expression (e.g. daily, *-*-* 03:00:00, Mon..Fri 22:30)",
        )
    p.check("mlflow_server_backup_fetch_dir", v["mlflow_server_backup_fetch_dir"], r.printable)
    p.check("mlflow_server_restore_source", v["mlflow_server_restore_source"], r.printable)
    if v["mlflow_server_backup_name"]:
        p.check(
            "mlflow_server_backup_name",
            v["mlflow_server_backup_name"],
            r.matches,
            _BACKUP_NAME,
            "a backup's directory name in mlflow_server_backup_dir (letters, digits, '.', '_', '-')",
        )
        if v["mlflow_server_restore_source"]:
            p.add(
                "mlflow_server_backup_name",
                "set either it (a backup on the host) or mlflow_server_restore_source (a backup on the controller), not both",
            )
