# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""The wiring between the roles: the one place where a role's variable is derived from another's.

The roles stand alone (each reads only its own variables); the playbooks run them together, and
what one needs from another is computed here, from the inventory's values and else the roles'
own defaults (read from their defaults/main.yml by the action plugin `wire_roles`, never copied).
Pure functions, unit-tested in tests/test_wiring.py.
"""

from __future__ import annotations

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

# What the wiring reads: each is the inventory's value, else its role's default.
INPUTS = (
    "mlflow_server_backend",
    "mlflow_server_db_host",
    "mlflow_server_port",
    "mlflow_server_instances",
    "mlflow_server_auth_enabled",
    "mlflow_server_auth_app",
    "mlflow_server_public_ports",
    "mlflow_server_public_names",
    "nginx_tls_upstream_config",
    "nginx_tls_https_port",
    "nginx_tls_private_port",
    "nginx_tls_server_names",
)

# What the wiring may set (playbooks/validate.yml hands each on with set_fact).
OUTPUTS = (
    "mlflow_provision_local_mysql",
    "mlflow_server_public_ports",
    "nginx_tls_upstream_ports",
    "mlflow_server_proxy_upstream_config",
    "nginx_tls_auth",
    "nginx_tls_auth_challenge",
    "mlflow_server_public_names",
    "nginx_tls_server_names",
    "nginx_tls_certificate_mode",
    "mlflow_server_cluster_hosts",
    "nginx_tls_credentials_dir",
    "mlflow_provision_secrets_scope",
    "nginx_tls_self_signed_host_names",
    "nginx_tls_acme_issuer_host",
    "nginx_tls_acme_issuer_address",
    "nginx_tls_client_urls",
    "mlflow_server_backend",
    "mlflow_server_db_host",
    "mlflow_server_db_admin_user",
    "mlflow_server_db_max_connections",
    "mlflow_server_artifact_store",
    "mlflow_server_azure_storage_account",
    "mlflow_server_azure_container",
    "mlflow_server_azure_client_id",
)

# What role azure_vm's outputs set, when the inventory does not: the managed PostgreSQL (its
# administrator creates MLflow's own role and databases, role mlflow_server), and Blob through
# the VMs' shared identity (no key on any VM).
AZURE_DATABASE = (
    "mlflow_server_backend",
    "mlflow_server_db_host",
    "mlflow_server_db_admin_user",
    "mlflow_server_db_max_connections",
)
AZURE_BLOB = (
    "mlflow_server_artifact_store",
    "mlflow_server_azure_storage_account",
    "mlflow_server_azure_container",
    "mlflow_server_azure_client_id",
)

# The group whose hosts serve one MLflow together (playbooks/deploy.yml configures it).
SERVERS_GROUP = "mlflow_servers"

# What the cross-role rules (rule set `deploy`) and the capacity check read.
DEPLOY_CHECK_INPUTS = (
    "mlflow_server_auth_enabled",
    "mlflow_server_host",
    "mlflow_server_port",
    "nginx_tls_auth",
    "nginx_tls_https_port",
    "nginx_tls_http_port",
    "mlflow_server_instances",
    "mlflow_server_workers",
    "mysql_max_connections",
    "base_firewall_enabled",
    "base_firewall_ssh_port",
    "base_firewall_public_tcp_ports",
    "base_firewall_private_tcp_ports",
    "nginx_tls_private_port",
)
CAPACITY_INPUTS = ("mlflow_server_instances", "mlflow_server_workers")


def local_mysql(v: dict) -> bool:
    """Role mysql runs when MLflow's backend is MySQL on this very host (a remote MySQL needs
    only the connection settings of role mlflow_server)."""
    return v["mlflow_server_backend"] == "mysql" and v["mlflow_server_db_host"] in LOCAL_HOSTS


def cluster_hosts(groups: dict, host: str) -> list:
    """The hosts serving one MLflow with `host`: the group mlflow_servers it belongs to (in the
    inventory's order), else it alone."""
    members = list(groups.get(SERVERS_GROUP) or [])
    return members if host in members else [host]


def wire(
    v: dict,
    given: set,
    azure_vm_outputs: dict | None = None,
    cluster: list | None = None,
    shared_credentials_dir: str | None = None,
) -> dict:
    """The facts that connect the roles. `v`: INPUTS (given or default); `given`: the names the
    inventory (or an earlier play) set, which win over what the wiring would derive; `cluster`:
    the hosts serving one MLflow (cluster_hosts); `shared_credentials_dir`: nginx_tls's default
    credentials directory as its first host would have it."""
    facts = {}
    if azure_vm_outputs:
        facts.update(azure_services(azure_vm_outputs, given))
        v = {
            **v,
            **{
                k: facts[k]
                for k in ("mlflow_server_backend", "mlflow_server_db_host")
                if k in facts
            },
        }
    facts["mlflow_provision_local_mysql"] = local_mysql(v)
    if cluster and "mlflow_server_cluster_hosts" not in given:
        facts["mlflow_server_cluster_hosts"] = list(cluster)
    # Several hosts share one self-signed certificate: it names the cluster, not each host (each
    # host adding its own names would make it again on every run, for the last host).
    if cluster and len(cluster) > 1 and "nginx_tls_self_signed_host_names" not in given:
        facts["nginx_tls_self_signed_host_names"] = False
    # Several hosts, mode acme: the first asks the CA for all (one certificate, one account, one
    # renewal); the others pass challenges on to it and take its certificate.
    if cluster and len(cluster) > 1 and "nginx_tls_acme_issuer_host" not in given:
        facts["nginx_tls_acme_issuer_host"] = cluster[0]
    # Several hosts: one set of basic-auth passwords for all (the first host's directory), or
    # each host would make its own and a client's password would work on one host only.
    if (
        cluster
        and len(cluster) > 1
        and shared_credentials_dir
        and "nginx_tls_credentials_dir" not in given
    ):
        facts["nginx_tls_credentials_dir"] = shared_credentials_dir
    # The same in a team's secret store (lookup mlflow_provision.tracking.secret): one scope.
    if cluster and len(cluster) > 1 and "mlflow_provision_secrets_scope" not in given:
        facts["mlflow_provision_secrets_scope"] = cluster[0]
    port, instances = int(v["mlflow_server_port"]), int(v["mlflow_server_instances"])
    # nginx proxies to MLflow's instances, and MLflow drains them through nginx's list of them.
    if "nginx_tls_upstream_ports" not in given:
        facts["nginx_tls_upstream_ports"] = list(range(port, port + instances))
    if "mlflow_server_proxy_upstream_config" not in given:
        facts["mlflow_server_proxy_upstream_config"] = v["nginx_tls_upstream_config"]
    # MLflow's own auth app: nginx passes credentials through instead of asking for its own.
    if "nginx_tls_auth" not in given:
        facts["nginx_tls_auth"] = "none" if _bool(v["mlflow_server_auth_enabled"]) else "basic"
    # Sign-in with a provider (auth mode oidc): a 401 must not open the browser's password box.
    oidc = _bool(v["mlflow_server_auth_enabled"]) and v["mlflow_server_auth_app"] == "oidc-auth"
    if "nginx_tls_auth_challenge" not in given:
        facts["nginx_tls_auth_challenge"] = not oidc
    # Clients send nginx's port in the Host header (unless it is 443), and MLflow checks it.
    ports = [int(p) for p in v["mlflow_server_public_ports"]] + [int(v["nginx_tls_https_port"])]
    if int(v["nginx_tls_private_port"]) > 0:
        ports.append(int(v["nginx_tls_private_port"]))
    facts["mlflow_server_public_ports"] = _unique(ports)
    if azure_vm_outputs:
        # A VM that role azure_vm made: its FQDN is a name MLflow and nginx answer to, with a
        # trusted certificate (ACME) unless the inventory chose a certificate mode.
        fqdn = azure_vm_outputs["fqdn"]
        facts["mlflow_server_public_names"] = _unique([*v["mlflow_server_public_names"], fqdn])
        facts["nginx_tls_server_names"] = _unique([fqdn, *v["nginx_tls_server_names"]])
        if "nginx_tls_certificate_mode" not in given:
            facts["nginx_tls_certificate_mode"] = "acme"
        if azure_vm_outputs.get("layout") == "load_balanced":
            # Ansible reaches each VM through the balancer's NAT rule: the other hosts find
            # the ACME issuer at its private address, and the deploy's last gate asks for
            # MLflow where clients do, at the balancer's name.
            if "nginx_tls_acme_issuer_address" not in given and azure_vm_outputs.get(
                "first_private_ip"
            ):
                facts["nginx_tls_acme_issuer_address"] = azure_vm_outputs["first_private_ip"]
            if "nginx_tls_client_urls" not in given:
                facts["nginx_tls_client_urls"] = [f"https://{fqdn}/health"]
    return facts


def azure_services(outputs: dict, given: set) -> dict:
    """The database and the artifact store that role azure_vm made, for role mlflow_server."""
    found = {}
    if outputs.get("postgres_host"):
        found.update(
            mlflow_server_backend="postgresql",
            mlflow_server_db_host=outputs["postgres_host"],
            mlflow_server_db_admin_user=outputs["postgres_admin_user"],
            mlflow_server_db_max_connections=int(outputs.get("postgres_max_connections") or 0),
        )
    if outputs.get("identity_client_id") and outputs.get("storage_account"):
        found.update(
            mlflow_server_artifact_store="azure_blob",
            mlflow_server_azure_storage_account=outputs["storage_account"],
            mlflow_server_azure_container=outputs.get("storage_container") or "mlflow",
            mlflow_server_azure_client_id=outputs["identity_client_id"],
        )
    return {key: value for key, value in found.items() if key not in given}


def deploy_check_values(v: dict) -> dict:
    """The values of the cross-role rules: the local MariaDB's connection limit counts only when
    role mysql runs here (a remote database's operator sizes it)."""
    values = {key: typed(v[key]) for key in DEPLOY_CHECK_INPUTS}
    if not v.get("mlflow_provision_local_mysql"):
        values["mysql_max_connections"] = 0
    return values


def typed(value):
    """Numbers and booleans as the rules compare them (an inventory may give "443" or "yes");
    a value that is neither stays as it is (the role's own check names it)."""
    if isinstance(value, list):
        return [typed(item) for item in value]
    if isinstance(value, str):
        text = value.strip().lower()
        if text.lstrip("-").isdigit():
            return int(text)
        if text in ("true", "yes", "on", "false", "no", "off"):
            return text in ("true", "yes", "on")
    return value


def _bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)


def _unique(items: list) -> list:
    return list(dict.fromkeys(items))
