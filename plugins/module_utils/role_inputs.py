# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Each role's input rules: what its argument spec cannot say, every problem at once.

``CHECKS[name](v, read)`` returns the problems of one role (or of the wiring between roles,
``deploy``) as a list of messages, each starting with the variable it is about. ``v`` holds
the role's variables after the argument spec's type checks (only those of the entry point being
checked: base's ``ca_trust`` entry point has no firewall variables); ``read(path)`` returns the
text of a file on the controller or None. Plain Python: tests/test_role_inputs.py calls these
directly, the action plugin ``validate_input`` calls them in every role's validate.yml.
"""

from __future__ import annotations

import copy
import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

try:  # Loaded by Ansible as collection content, or by the tests from .cache/collections.
    from ansible_collections.mlflow_provision.tracking.plugins.module_utils import input_rules as r
except ImportError:  # pragma: no cover - ansible-test sanity imports it by this path too
    from . import input_rules as r  # type: ignore[no-redef]

LOOPBACK_OR_ANY = ("0.0.0.0", "::")


def role_problems(name, options, raw, read):
    """Types and choices from the argument spec's `options`, then the rules of role `name`.

    `raw` holds the role's variables as the inventory gives them (templated). The rules run on
    the values the spec converted; they are skipped when a type is wrong (reported once).
    """
    problems = []
    # The spec's defaults for what is not given (Ansible passes every variable; the tests not).
    defaults = {key: copy.deepcopy(o["default"]) for key, o in options.items() if "default" in o}
    raw = {**defaults, **raw}
    for key, option in options.items():
        if option.get("type") == "list" and isinstance(raw.get(key), str):
            # The spec would turn "a,b" into ["a", "b"] without a word.
            problems.append(f"{key}: {r.not_a_string(raw[key])}")
    validated = ArgumentSpecValidator(options).validate(raw, validate_role_argument_spec=True)
    for text in validated.error_messages:
        # "value of x must be one of: a, b, got: c" reads as the rules' "x: ..." messages do.
        problems.append(text[len("value of ") :] if text.startswith("value of ") else text)
    if problems:
        return problems
    return rule_problems(name, validated.validated_parameters, read)


def rule_problems(name, values, read):
    """The rules of `name` (a role, or `deploy`); a value they cannot handle is a problem too."""
    try:
        return CHECKS[name](values, read)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [
            f"{name}: the input could not be checked ({type(exc).__name__}: {exc}); check its types"
        ]


def check_base(v, read):
    p = r.Problems()
    p.each(
        "base_extra_ca_certificates",
        v.get("base_extra_ca_certificates"),
        r.pem,
        "CERTIFICATE",
        read,
    )
    if "base_firewall_enabled" not in v:  # entry point ca_trust: the CA trust only
        return p.items
    for name in ("base_packages_extra",):
        p.each(name, v[name], r.debian_package)
    p.check(
        "base_apt_cache_valid_time", v["base_apt_cache_valid_time"], r.in_range, 0, None, "seconds"
    )
    if v["base_firewall_enabled"] and not v["base_firewall_admin_cidrs"]:
        p.add(
            "base_firewall_admin_cidrs",
            "must list at least one CIDR when base_firewall_enabled is true (SSH would be closed"
            " to everyone)",
        )
    for name in ("base_firewall_admin_cidrs", "base_firewall_private_cidrs"):
        p.each(name, v[name], r.network)
    for name in ("base_firewall_public_tcp_ports", "base_firewall_private_tcp_ports"):
        p.each(name, v[name], r.tcp_port)
    p.check("base_firewall_ssh_port", v["base_firewall_ssh_port"], r.tcp_port)
    return p.items


def check_base_lockout(v, read):
    """The firewall must not lock out the address this Ansible connection comes from.

    `v`: base_firewall_admin_cidrs and `client`, the SSH client address of the connection (empty
    for local or docker connections: nothing to check).
    """
    p = r.Problems()
    client, admin = v.get("client") or "", v["base_firewall_admin_cidrs"]
    if client and not r.contains(admin, client):
        p.add(
            "base_firewall_admin_cidrs",
            f"({', '.join(map(str, admin))}) does not contain {client}, the address this Ansible"
            f" connection comes from: the firewall would lock it out. Add it (e.g. {client}/32)"
            " or set base_firewall_lockout_check: false",
        )
    return p.items


def check_mysql(v, read):
    p = r.Problems()
    pw = v["mysql_mlflow_password"]
    if not pw:
        p.add(
            "mysql_mlflow_password",
            "required, must not be empty (any printable characters are allowed)",
        )
    else:
        p.check("mysql_mlflow_password", pw, r.printable, secret=True)
    p.check(
        "mysql_mlflow_database",
        v["mysql_mlflow_database"],
        r.matches,
        r"[A-Za-z0-9_]{1,64}",
        "use 1-64 letters, digits or underscores",
    )
    p.check(
        "mysql_mlflow_user",
        v["mysql_mlflow_user"],
        r.matches,
        r"[A-Za-z0-9_.-]{1,80}",
        'use 1-80 letters, digits, "_", "." or "-"',
    )
    p.each(
        "mysql_mlflow_user_hosts",
        v["mysql_mlflow_user_hosts"],
        r.matches,
        r"[A-Za-z0-9.%_:-]{1,255}(/[0-9.]+)?",
        "use a host name, an address, a pattern with % or _ (e.g. 10.0.%), or address/netmask",
    )
    p.check("mysql_bind_address", v["mysql_bind_address"], r.ip_address, " (e.g. 127.0.0.1)")
    p.check("mysql_port", v["mysql_port"], r.tcp_port)
    ratio = v["mysql_innodb_buffer_pool_ratio"]
    if not 0 < ratio <= 0.8:
        p.add("mysql_innodb_buffer_pool_ratio", f"{ratio} is outside (0, 0.8]")
    if v["mysql_innodb_buffer_pool_min_mb"] < 8:
        p.add(
            "mysql_innodb_buffer_pool_min_mb", f"{v['mysql_innodb_buffer_pool_min_mb']} is below 8"
        )
    p.check("mysql_max_connections", v["mysql_max_connections"], r.in_range, 10, 10000)
    for key, value in (v["mysql_server_settings_extra"] or {}).items():
        name = f"mysql_server_settings_extra.{key}"
        if p.check(
            name,
            key,
            r.matches,
            r"[a-z][a-z0-9_-]{0,63}",
            "a server option name (e.g. wait_timeout)",
        ):
            p.check(name, value, r.printable)
    return p.items


def check_nginx_tls(v, read):
    p = r.Problems()
    p.each("nginx_tls_ip_sans", v["nginx_tls_ip_sans"], r.ip_address)
    p.each("nginx_tls_server_names", v["nginx_tls_server_names"], r.dns_name, wildcard=True)
    if v["nginx_tls_certificate_mode"] == "provided":
        for name, marker in (
            ("nginx_tls_certificate", "CERTIFICATE"),
            ("nginx_tls_private_key", "PRIVATE KEY"),
        ):
            if not v[name]:
                p.add(
                    name,
                    "required with nginx_tls_certificate_mode provided (a path on the controller or PEM text)",
                )
            else:
                p.check(name, v[name], r.pem, marker, read)
    if v["nginx_tls_certificate_mode"] == "acme":
        _acme(p, v)
    p.check(
        "nginx_tls_self_signed_days",
        v["nginx_tls_self_signed_days"],
        r.in_range,
        31,
        366,
        "days (browsers and Mozilla's TLS profiles refuse longer; renewed with 30 days left)",
    )
    for name in ("nginx_tls_https_port", "nginx_tls_http_port"):
        p.check(name, v[name], r.tcp_port)
    ports = v["nginx_tls_upstream_ports"] or []
    if not ports:
        p.add("nginx_tls_upstream_ports", "must list at least one port")
    p.each("nginx_tls_upstream_ports", ports, r.tcp_port)
    for port in r.duplicates(ports):
        p.add("nginx_tls_upstream_ports", f"{port} is listed more than once")
    p.check("nginx_tls_upstream_config", v["nginx_tls_upstream_config"], r.absolute_path)
    p.check(
        "nginx_tls_upstream_fail_timeout",
        v["nginx_tls_upstream_fail_timeout"],
        r.in_range,
        1,
        300,
        "seconds",
    )
    p.check(
        "nginx_tls_reload_close_window",
        v["nginx_tls_reload_close_window"],
        r.in_range,
        0,
        30,
        "seconds",
    )
    if v["nginx_tls_https_port"] == v["nginx_tls_http_port"]:
        p.add("nginx_tls_http_port", f"{v['nginx_tls_http_port']} is also nginx_tls_https_port")
    private = v["nginx_tls_private_port"]
    listening = [v["nginx_tls_https_port"], v["nginx_tls_http_port"]]
    if private != 0 and r.tcp_port(private):
        p.add("nginx_tls_private_port", f"{private} is not a TCP port (1-65535) nor 0 (none)")
    elif private != 0:
        if private in listening:
            p.add(
                "nginx_tls_private_port",
                f"{private} is also nginx_tls_https_port or nginx_tls_http_port; choose another",
            )
        listening.append(private)
    upstream = v["nginx_tls_upstream_host"]
    if p.check("nginx_tls_upstream_host", upstream, r.ip_address):
        local = upstream in LOOPBACK_OR_ANY or upstream.startswith("127.") or upstream == "::1"
        for port in ports:
            if local and port in listening:
                p.add(
                    "nginx_tls_upstream_ports",
                    f"{port} clashes with a port nginx listens on"
                    f" (nginx_tls_https_port {v['nginx_tls_https_port']}, nginx_tls_http_port"
                    f" {v['nginx_tls_http_port']}, nginx_tls_private_port {private})",
                )
    min_length = v["nginx_tls_basic_auth_min_password_length"]
    if min_length < 12:
        p.add(
            "nginx_tls_basic_auth_min_password_length",
            f"{min_length} is below 12; nginx checks passwords with a fast hash, so they must be long",
        )
    if v["nginx_tls_auth"] == "basic":
        _basic_auth_users(p, v["nginx_tls_basic_auth_users"], max(min_length, 12))
    p.check(
        "nginx_tls_basic_auth_realm",
        v["nginx_tls_basic_auth_realm"],
        r.matches,
        r"[A-Za-z0-9 ._@-]{1,64}",
        'use 1-64 letters, digits, spaces, ".", "_", "@" or "-"',
    )
    p.check("nginx_tls_client_max_body_size", v["nginx_tls_client_max_body_size"], r.nginx_size)
    p.check("nginx_tls_proxy_timeout", v["nginx_tls_proxy_timeout"], r.in_range, 1, None, "seconds")
    p.check(
        "nginx_tls_unavailable_retry_after",
        v["nginx_tls_unavailable_retry_after"],
        r.in_range,
        1,
        3600,
        "seconds",
    )
    p.check(
        "nginx_tls_auth_fail_limit",
        v["nginx_tls_auth_fail_limit"],
        r.in_range,
        1,
        1000,
        "failed logins before a client gets 429",
    )
    p.check(
        "nginx_tls_auth_fail_rate",
        v["nginx_tls_auth_fail_rate"],
        r.in_range,
        1,
        600,
        "failed logins per minute after the limit",
    )
    if v["nginx_tls_hsts_max_age"] < 0:
        p.add(
            "nginx_tls_hsts_max_age",
            f"{v['nginx_tls_hsts_max_age']} is negative (seconds; 0 sends no header)",
        )
    p.each("nginx_tls_client_urls", v["nginx_tls_client_urls"], r.http_url, https_only=True)
    if not v["nginx_tls_protocols"]:
        p.add("nginx_tls_protocols", "must list TLSv1.2, TLSv1.3 or both")
    p.check(
        "nginx_tls_ciphers",
        v["nginx_tls_ciphers"],
        r.matches,
        r"[A-Za-z0-9:+!@_=-]{1,2000}",
        "an OpenSSL cipher list (names joined by :)",
    )
    return p.items


LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"


def _acme(p, v):
    """Mode acme: what the CA needs (HTTP-01 on port 80 for DNS names), before anything changes."""
    names = v["nginx_tls_server_names"] or []
    if not names:
        p.add(
            "nginx_tls_server_names",
            "must list the DNS names of the certificate with nginx_tls_certificate_mode acme,"
            " each pointing at this host (playbooks/site.yml adds an Azure VM's FQDN)",
        )
    for index, name in enumerate(names):
        if r.ip_address(name) is None:
            p.add(
                f"nginx_tls_server_names[{index}]",
                f"{name} is an IP address; an ACME certificate is for DNS names only"
                " (use mode self_signed or provided for an address)",
            )
        elif str(name).startswith("*."):
            p.add(
                f"nginx_tls_server_names[{index}]",
                f"{name} is a wildcard; HTTP-01 validation cannot prove one (list the names)",
            )
    email = v["nginx_tls_acme_email"]
    if not email:
        p.add(
            "nginx_tls_acme_email",
            "required with nginx_tls_certificate_mode acme: the CA account's contact address",
        )
    else:
        p.check("nginx_tls_acme_email", email, r.matches, _EMAIL, "an e-mail address (name@domain)")
    url = v["nginx_tls_acme_directory_url"]
    p.check("nginx_tls_acme_directory_url", url, r.http_url, https_only=True)
    if v["nginx_tls_acme_staging"] and url != LETSENCRYPT:
        p.add(
            "nginx_tls_acme_staging",
            "switches Let's Encrypt's directory to its staging one; with another CA in"
            " nginx_tls_acme_directory_url, put that CA's staging directory there instead",
        )
    kid, key = v["nginx_tls_acme_eab_kid"], v["nginx_tls_acme_eab_hmac_key"]
    if bool(kid) != bool(key):
        missing = "nginx_tls_acme_eab_hmac_key" if kid else "nginx_tls_acme_eab_kid"
        p.add(missing, "required too: External Account Binding needs the key id and the HMAC key")
    if kid:
        p.check(
            "nginx_tls_acme_eab_kid", kid, r.matches, r"[A-Za-z0-9._:-]{1,200}", "the CA's key id"
        )
    if key:
        p.check(
            "nginx_tls_acme_eab_hmac_key",
            key,
            r.matches,
            r"[A-Za-z0-9_-]{16,512}={0,2}",
            "the CA's HMAC key, base64url as the CA gives it",
            secret=True,
        )
    p.check(
        "nginx_tls_acme_renew_days",
        v["nginx_tls_acme_renew_days"],
        r.in_range,
        1,
        180,
        "days left before a renewal",
    )
    if v["nginx_tls_http_port"] != 80:
        p.add(
            "nginx_tls_http_port",
            f"{v['nginx_tls_http_port']}: must be 80 with nginx_tls_certificate_mode acme"
            " (the CA validates the names over HTTP on port 80)",
        )


def _basic_auth_users(p, users, min_length):
    name = "nginx_tls_basic_auth_users"
    if not users:
        p.add(name, "must list at least one user with nginx_tls_auth basic")
    seen = set()
    for index, user in enumerate(users or []):
        where = f"{name}[{index}]"
        if not isinstance(user, dict) or "name" not in user:
            p.add(where, "must be a mapping with a name (and optional password)")
            continue
        if re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", str(user["name"])) is None:
            p.add(
                f"{where}.name",
                f'"{user["name"]}" is not allowed; use 1-64 letters, digits, ".", "_", "@" or "-"',
            )
            continue
        if user["name"] in seen:
            p.add(f"{where}.name", f"{user['name']} is listed twice")
            continue
        seen.add(user["name"])
        password = user.get("password")
        if password is None or password == "":
            continue
        if not isinstance(password, str):
            p.add(f"{where}.password", "must be a string")
        elif len(password) < min_length:
            p.add(
                f"{where}.password",
                f"{len(password)} characters; a password you choose needs at least {min_length}"
                " (nginx_tls_basic_auth_min_password_length), or leave it out to have one generated",
            )
        else:
            p.check(f"{where}.password", password, r.printable, secret=True)


def check_mlflow_server(v, read):
    p = r.Problems()
    _packages(p, v)
    _paths_and_account(p, v)
    if v["mlflow_server_backend"] != "sqlite":
        _database(p, v, read)
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
    if v["mlflow_server_auth_enabled"]:
        _auth(p, v)
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
        paths.append("auth_sqlite_path")
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


# Backup names are directory names: the helper (files/mlflow-backup.py) allows the same.
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


def check_azure_vm(v, read):
    p = r.Problems()
    if r.guid(v["azure_vm_subscription_id"]):
        p.add(
            "azure_vm_subscription_id",
            f'"{v["azure_vm_subscription_id"]}" is not a subscription id (a GUID; or set AZURE_SUBSCRIPTION_ID)',
        )
    if re.fullmatch(r"[a-z][a-z0-9]{2,39}", str(v["azure_vm_location"])) is None:
        p.add(
            "azure_vm_location",
            f'"{v["azure_vm_location"]}" is not a region name (lowercase letters and digits, e.g.'
            " westeurope; see az account list-locations)",
        )
    if re.fullmatch(r"[a-z][a-z0-9-]{1,61}[a-z0-9]", v["azure_vm_dns_label"]) is None:
        p.add(
            "azure_vm_dns_label",
            f'"{v["azure_vm_dns_label"]}" breaks the Azure rule ^[a-z][a-z0-9-]{{1,61}}[a-z0-9]$'
            " (3-63 lowercase letters, digits, hyphens; a letter first)",
        )
    admin = v["azure_vm_admin_cidrs"]
    if not admin:
        p.add("azure_vm_admin_cidrs", "required, the ranges allowed to SSH (e.g. [203.0.113.0/24])")
    for index, cidr in enumerate(admin):
        if r.network(cidr):
            p.add(f"azure_vm_admin_cidrs[{index}]", f'"{cidr}" is not a CIDR (e.g. 203.0.113.0/24)')
        elif r.prefix_length(cidr) == 0 and not v["azure_vm_allow_ssh_from_anywhere"]:
            p.add(
                f"azure_vm_admin_cidrs[{index}]",
                f"{cidr} opens SSH to the whole Internet; list your admin ranges, or set"
                " azure_vm_allow_ssh_from_anywhere: true",
            )
    p.check(
        "azure_vm_storage_soft_delete_days",
        v["azure_vm_storage_soft_delete_days"],
        r.in_range,
        1,
        365,
        "days",
    )
    p.each("azure_vm_vnet_address_prefixes", v["azure_vm_vnet_address_prefixes"], r.cidr)
    p.each("azure_vm_private_cidrs", v["azure_vm_private_cidrs"], r.cidr)
    p.check("azure_vm_subnet_address_prefix", v["azure_vm_subnet_address_prefix"], r.cidr)
    if v["azure_vm_state"] == "present":
        key = (
            v["azure_vm_ssh_public_key"] or read(v["azure_vm_ssh_public_key_file"]) or ""
        ).strip()
        openssh = r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]{40,}={0,3}( [^\n]*)?"
        if not key:
            p.add(
                "azure_vm_ssh_public_key",
                f"missing (and {v['azure_vm_ssh_public_key_file']} is not readable)",
            )
        elif re.fullmatch(openssh, key) is None:
            p.add(
                "azure_vm_ssh_public_key", "not an OpenSSH public key (ssh-ed25519 AAAA... comment)"
            )
    if v["azure_vm_storage_account"]:
        p.check("azure_vm_storage_account", v["azure_vm_storage_account"], r.azure_storage_account)
    p.check("azure_vm_storage_container", v["azure_vm_storage_container"], r.azure_container)
    group = v["azure_vm_resource_group"]
    if re.fullmatch(r"[-\w._()]{1,90}", group) is None or group.endswith("."):
        p.add("azure_vm_resource_group", f'"{group}" is not a valid resource group name')
    if re.fullmatch(r"[a-z][a-z0-9-]{0,50}", v["azure_vm_name"]) is None:
        p.add(
            "azure_vm_name",
            f'"{v["azure_vm_name"]}" must be lowercase letters, digits and hyphens (a letter first)',
        )
    p.check("azure_vm_os_disk_size_gb", v["azure_vm_os_disk_size_gb"], r.in_range, 30, 4095)
    if v["azure_vm_resource_manager_endpoint"]:
        p.check(
            "azure_vm_resource_manager_endpoint",
            v["azure_vm_resource_manager_endpoint"],
            r.http_url,
            True,
        )
    p.check(
        "azure_vm_admin_username",
        v["azure_vm_admin_username"],
        r.matches,
        r"(?!(admin|root|administrator|guest|user|test)$)[a-z_][a-z0-9_-]{0,31}",
        "a Linux user name (lowercase, 32 at most) that Azure allows (not admin, root, administrator, guest, user, test)",
    )
    p.check(
        "azure_vm_size",
        v["azure_vm_size"],
        r.matches,
        r"[A-Za-z][A-Za-z0-9_]{1,63}",
        "a VM size such as Standard_B2s",
    )
    p.check(
        "azure_vm_inventory_group",
        v["azure_vm_inventory_group"],
        r.matches,
        r"[A-Za-z_][A-Za-z0-9_]*",
        "an Ansible group name (letters, digits, underscores)",
    )
    p.check("azure_vm_ssh_timeout", v["azure_vm_ssh_timeout"], r.in_range, 1, None, "seconds")
    for key, value in (v["azure_vm_tags"] or {}).items():
        if re.fullmatch(r"[^<>%&\\?/]{1,512}", str(key)) is None:
            p.add(
                "azure_vm_tags",
                f'"{key}" is not a tag name (1-512 characters without < > % & \\ ? /)',
            )
        elif len(str(value)) > 256:
            p.add(f"azure_vm_tags.{key}", "longer than 256 characters")
    return p.items


def check_deploy(v, read):
    """The wiring of playbooks/deploy.yml: rules that involve two roles."""
    p = r.Problems()
    if v.get("nginx_tls_auth") == "basic" and v.get("mlflow_server_auth_enabled"):
        p.add(
            "nginx_tls_auth",
            "basic cannot be combined with mlflow_server_auth_enabled: nginx would ask for its own"
            " password and drop the credentials MLflow checks; use none (the default then)",
        )
    port = v.get("mlflow_server_port")
    listening = {
        v.get("nginx_tls_https_port"): "nginx_tls_https_port",
        v.get("nginx_tls_http_port"): "nginx_tls_http_port",
    }
    if v.get("nginx_tls_private_port"):
        listening[v["nginx_tls_private_port"]] = "nginx_tls_private_port"
    if port in listening and v.get("mlflow_server_host") in ("127.0.0.1", "0.0.0.0", "::", "::1"):
        p.add(
            "mlflow_server_port",
            f"{port} is the port nginx listens on ({listening[port]}); choose another",
        )
    host = v.get("mlflow_server_host")
    if (
        v.get("nginx_tls_auth") != "none"
        and not v.get("mlflow_server_auth_enabled")
        and host is not None
        and not (host == "::1" or str(host).startswith("127."))
    ):
        p.add(
            "mlflow_server_host",
            f"{host} would let clients reach MLflow's instances directly, past nginx's"
            " authentication: MLflow itself asks for no credentials (nginx_tls_auth basic). Keep"
            " 127.0.0.1, or turn on MLflow's own users (mlflow_server_auth_enabled: true)",
        )
    if "base_firewall_ssh_port" in v:
        _ports_agree(p, v, listening)
    if "mlflow_server_workers" in v:
        _database_connections(p, v)
    return p.items


def _ports_agree(p, v, listening):
    """nginx, MLflow's instances, SSH and the firewall must agree: a port clients are promised
    must be open to them, and no two services may want one port."""
    ssh = v["base_firewall_ssh_port"]
    instances = range(
        v["mlflow_server_port"], v["mlflow_server_port"] + v["mlflow_server_instances"]
    )
    for nginx_port, name in listening.items():
        if nginx_port == ssh:
            p.add(
                name,
                f"{nginx_port} is the SSH port (base_firewall_ssh_port): nginx and sshd cannot"
                " share it, and the firewall opens it to the admin networks only; choose another",
            )
        elif nginx_port in instances:
            p.add(
                name,
                f"{nginx_port} is the port of an MLflow instance (mlflow_server_instances"
                f" {v['mlflow_server_instances']} from mlflow_server_port {v['mlflow_server_port']})",
            )
    if ssh in instances:
        p.add(
            "mlflow_server_port",
            f"its instances ({instances.start}-{instances.stop - 1}) include the SSH port"
            f" {ssh} (base_firewall_ssh_port); choose another",
        )
    if not v["base_firewall_enabled"]:
        return
    public = v["base_firewall_public_tcp_ports"]
    private = v.get("base_firewall_private_tcp_ports", [])
    for nginx_port, name in listening.items():
        if name == "nginx_tls_private_port":
            if nginx_port != ssh and nginx_port not in public + private:
                p.add(
                    name,
                    f"{nginx_port} is in neither base_firewall_private_tcp_ports"
                    f" ({', '.join(map(str, private)) or 'empty'}) nor the public list: the"
                    " firewall would drop every in-network client; add it to the private list"
                    " (or set nginx_tls_private_port: 0 for none)",
                )
        elif nginx_port != ssh and nginx_port not in public:
            p.add(
                name,
                f"{nginx_port} is not in base_firewall_public_tcp_ports"
                f" ({', '.join(map(str, public)) or 'empty'}): the firewall would drop every"
                " client; add it there (and to the cloud's network rules: azure_vm opens 80 and 443)",
            )
    if ssh in public:
        p.add(
            "base_firewall_public_tcp_ports",
            f"{ssh} is the SSH port (base_firewall_ssh_port), which the firewall opens to"
            " base_firewall_admin_cidrs only; remove it",
        )


def check_capacity(v, read):
    """What the host can hold, from its facts: `vcpus`, `memtotal_mb`, and the MLflow sizes."""
    p = r.Problems()
    instances, workers = v["mlflow_server_instances"], v["mlflow_server_workers"]
    total = instances * workers
    vcpus, memory = max(int(v["vcpus"] or 1), 1), int(v["memtotal_mb"] or 0)
    if total > 4 * vcpus:
        p.add(
            "mlflow_server_workers",
            f"{instances} instances x {workers} workers = {total} processes on {vcpus} vCPU(s);"
            f" at most {4 * vcpus} (4 per vCPU): lower mlflow_server_workers or"
            " mlflow_server_instances, or use a bigger host",
        )
    needed = total * WORKER_MB
    if memory and needed > memory * 0.8:
        p.add(
            "mlflow_server_workers",
            f"{instances} instances x {workers} workers need about {needed} MB ({WORKER_MB} MB"
            f" each), more than 80% of the host's {memory} MB: lower mlflow_server_workers or"
            " mlflow_server_instances, or use a bigger host",
        )
    return p.items


def _database_connections(p, v):
    """The local MariaDB must accept every worker's pool (and the backups and tools beside)."""
    limit = v.get("mysql_max_connections")
    if not limit:
        return
    pools = v["mlflow_server_instances"] * v["mlflow_server_workers"] * WORKER_DB_CONNECTIONS
    if pools + 10 > limit:
        p.add(
            "mysql_max_connections",
            f"{limit} is below what MLflow's workers may open ({v['mlflow_server_instances']}"
            f" instances x {v['mlflow_server_workers']} workers x {WORKER_DB_CONNECTIONS}"
            f" pooled connections = {pools}, + 10 for backups and tools): raise it to"
            f" {pools + 10} or more",
        )


CHECKS = {
    "base": check_base,
    "capacity": check_capacity,
    "base_lockout": check_base_lockout,
    "mysql": check_mysql,
    "nginx_tls": check_nginx_tls,
    "mlflow_server": check_mlflow_server,
    "azure_vm": check_azure_vm,
    "deploy": check_deploy,
}
