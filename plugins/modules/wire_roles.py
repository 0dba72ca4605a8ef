#!/usr/bin/python
# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Documentation of the action plugin wire_roles (plugins/action/wire_roles.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: wire_roles
short_description: The values that connect the collection's roles, derived once, before they run
description:
  - The roles stand alone, each reads only its own variables. This derives what one needs from
    another when the playbooks run them together, from the inventory's values and else the
    roles' own defaults (read from the collection, not copied).
  - C(mlflow_provision_local_mysql) (role mysql runs when the backend is MySQL on this host);
    C(nginx_tls_upstream_ports) from C(mlflow_server_port) and C(mlflow_server_instances);
    C(mlflow_server_proxy_upstream_config) from C(nginx_tls_upstream_config); C(nginx_tls_auth)
    C(none) when MLflow's auth app is on, else C(basic); C(mlflow_server_public_ports) plus
    nginx's HTTPS and private ports; with C(azure_vm_outputs) the VM's FQDN added to
    C(mlflow_server_public_names) and C(nginx_tls_server_names), and certificate mode C(acme);
    C(mlflow_server_cluster_hosts) the hosts of the group C(mlflow_servers) (they serve one
    MLflow), and with two or more C(nginx_tls_credentials_dir) the first host's default
    directory (one set of basic-auth passwords and one self-signed certificate for every
    host, and C(mlflow_provision_secrets_scope) the first host's name for a team's secret store)
    and C(nginx_tls_self_signed_host_names) false (that certificate names the cluster),
    and C(nginx_tls_acme_issuer_host) the first host (in mode acme it asks the CA for all).
  - A variable the inventory sets wins over what would be derived (the public ports and names
    are extended, not replaced).
  - Returns the values in RV(facts); hand them on with C(ansible.builtin.set_fact), as
    C(playbooks/validate.yml) does (facts an action returns rank below inventory variables).
  - Runs on the controller only; it never contacts the host. The logic is in
    C(plugins/module_utils/wiring.py).
options: {}
author:
  - mlflow-provision developers (@mlflow-provision)
"""

EXAMPLES = r"""
- name: Wire the roles of this host
  mlflow_provision.tracking.wire_roles:
  register: wiring

- name: Hand the wiring to the roles
  ansible.builtin.set_fact:
    mlflow_provision_local_mysql: "{{ wiring.facts.mlflow_provision_local_mysql }}"
    nginx_tls_upstream_ports: "{{ wiring.facts.nginx_tls_upstream_ports | default(omit) }}"
"""

RETURN = r"""
facts:
  description: The wired variables, name to value; a name the inventory sets is absent.
  type: dict
  returned: always
"""
