# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Role base: CA certificates, packages, the firewall (and that it cannot lock out this controller).

Rules in the form of plugins/module_utils/role_inputs.py (which lists them in ``CHECKS``): ``v``
holds the variables after the argument spec's type checks, ``read(path)`` a controller file's
text or None; the result is a list of messages, each starting with its variable.
"""

from __future__ import annotations

try:  # Loaded by Ansible as collection content, or by the tests from .cache/collections.
    from ansible_collections.mlflow_provision.tracking.plugins.module_utils import input_rules as r
except ImportError:  # pragma: no cover - ansible-test sanity imports it by this path too
    from . import input_rules as r  # type: ignore[no-redef]


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
