# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Role nginx_tls: names, ports, certificates (self-signed, provided, ACME), basic auth, throttle.

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

LOOPBACK_OR_ANY = ("0.0.0.0", "::")


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
    _load_balancer(p, v)
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
    if v["nginx_tls_acme_issuer_address"]:
        p.check("nginx_tls_acme_issuer_address", v["nginx_tls_acme_issuer_address"], r.host)
    if v["nginx_tls_acme_issuer_address"] and not v["nginx_tls_acme_issuer_host"]:
        p.add(
            "nginx_tls_acme_issuer_address",
            "is set, but nginx_tls_acme_issuer_host is empty: name the inventory host that"
            " requests the certificate for all (the address says where the others reach it)",
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


def _load_balancer(p, v):
    path = v["nginx_tls_lb_health_path"]
    if re.fullmatch(r"/[A-Za-z0-9._~/-]+", path or "") is None or path in ("/", "/health"):
        p.add(
            "nginx_tls_lb_health_path",
            f"{path!r} is not allowed: an absolute path of letters, digits and . _ ~ - / (not / or"
            " /health, which stay MLflow's)",
        )
    p.check(
        "nginx_tls_lb_probe_interval",
        v["nginx_tls_lb_probe_interval"],
        r.in_range,
        1,
        300,
        "seconds",
    )
    p.check("nginx_tls_lb_probe_threshold", v["nginx_tls_lb_probe_threshold"], r.in_range, 1, 100)
