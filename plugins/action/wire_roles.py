# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Action plugin wire_roles: the facts that connect the roles (plugins/module_utils/wiring.py)."""

from __future__ import annotations

# Documentation: plugins/modules/wire_roles.py.
from ansible.plugins.action import ActionBase
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.wiring import (
    AZURE_BLOB,
    AZURE_DATABASE,
    INPUTS,
    cluster_hosts,
    wire,
)
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.role_defaults import (
    effective_values,
)

# What the wiring may set; a value the inventory (or an earlier play) gives wins over it.
_DERIVED = (
    "nginx_tls_upstream_ports",
    "mlflow_server_proxy_upstream_config",
    "nginx_tls_auth",
    "nginx_tls_certificate_mode",
    "mlflow_server_cluster_hosts",
    "nginx_tls_credentials_dir",
    "mlflow_provision_secrets_scope",
    "nginx_tls_self_signed_host_names",
    "nginx_tls_acme_issuer_host",
    "nginx_tls_acme_issuer_address",
    "nginx_tls_client_urls",
    *AZURE_DATABASE,
    *AZURE_BLOB,
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        values = effective_values(self._loader, self._templar, task_vars, INPUTS)
        given = {name for name in _DERIVED if name in task_vars}
        outputs = task_vars.get("azure_vm_outputs")
        if outputs is not None:
            outputs = self._templar.template(outputs)
        host = task_vars.get("inventory_hostname")
        given_cluster = task_vars.get("mlflow_server_cluster_hosts")
        cluster = (
            self._templar.template(given_cluster)
            if given_cluster is not None
            else cluster_hosts(task_vars.get("groups") or {}, host)
        )
        shared_dir = None
        if len(cluster) > 1 and "nginx_tls_credentials_dir" not in task_vars:
            # The role's default, templated as on the first host of the cluster.
            first = {**task_vars, "inventory_hostname": cluster[0]}
            shared_dir = effective_values(
                self._loader, self._templar, first, ("nginx_tls_credentials_dir",)
            )["nginx_tls_credentials_dir"]
        facts = wire(values, given, outputs, cluster, shared_dir)
        # Not as ansible_facts: an action's facts rank below the inventory's variables; the
        # play hands them on with set_fact (playbooks/validate.yml).
        result.update(changed=False, facts=facts)
        return result
