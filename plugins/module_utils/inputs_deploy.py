# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Rules across roles: the wiring of playbooks/deploy.yml (ports, auth, connections) and what a host can hold.

Rules in the form of plugins/module_utils/role_inputs.py (which lists them in ``CHECKS``): ``v``
holds the variables after the argument spec's type checks, ``read(path)`` a controller file's
text or None; the result is a list of messages, each starting with its variable.
"""

from __future__ import annotations

try:  # Loaded by Ansible as collection content, or by the tests from .cache/collections.
    from ansible_collections.mlflow_provision.tracking.plugins.module_utils import input_rules as r
except ImportError:  # pragma: no cover - ansible-test sanity imports it by this path too
    from . import input_rules as r  # type: ignore[no-redef]

try:
    from ansible_collections.mlflow_provision.tracking.plugins.module_utils.inputs_mlflow_server import (
        WORKER_DB_CONNECTIONS,
        WORKER_MB,
    )
except ImportError:  # pragma: no cover
    from .inputs_mlflow_server import WORKER_DB_CONNECTIONS, WORKER_MB  # type: ignore[no-redef]


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
