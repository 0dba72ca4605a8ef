#!/usr/bin/python
# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Documentation of the action plugin secrets (plugins/action/secrets.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: secrets
short_description: Every generated secret of a host from the deployment's store, or a stop before any change
description:
  - Finds the host's generated secrets - the variables whose definition calls the lookup
    C(mlflow_provision.tracking.secret) (the inventory's database passwords, ...), and those the
    roles name in O(declared) (role nginx_tls's generated basic-auth passwords) - and resolves each
    from the store chosen by C(mlflow_provision_secrets_store) (C(local), C(vault), C(azure_keyvault)).
  - A secret the store lacks is made and stored, unless the host already uses one (for the
    inventory's, the fact C(mlflow_provision_secrets_host.deployed); for a role's, its C(in_use)).
    Then the task fails, naming every such secret, where the store looked, and how to rotate it
    on purpose; C(playbooks/secrets.yml) runs it before any change.
  - C(mlflow_provision_rotate) (a list of names) makes those secrets again, once per O(run)
    however many hosts share them; a name that is not one of the host's secrets is an error.
  - With O(list_only) nothing is made nor refused - the result says where each secret lives and
    whether the store has it (C(mlflow-provision secrets)). Values are never returned.
  - Runs on the controller; the logic is in C(plugins/plugin_utils/secret_policy.py) and
    C(secret_store.py).
options:
  declared:
    description:
      - The roles' generated secrets - C(name), C(dir) (store local), C(in_use), optional C(length), C(chars),
        and C(variable) (the role variable they belong to, for messages). Looked up like the inventory's.
    type: list
    elements: dict
    default: []
  run:
    description: An id for this run (the same on every host), so that a rotation happens once.
    type: str
  rotate:
    description: The names to make again on purpose; default C(mlflow_provision_rotate).
    type: list
    elements: str
  list_only:
    description: Only say where each secret lives and whether it is stored.
    type: bool
    default: false
author:
  - mlflow-provision developers (@mlflow-provision)
"""

EXAMPLES = r"""
- name: Resolve every generated secret, or stop naming each missing one
  mlflow_provision.tracking.secrets:
    declared: "{{ nginx_tls_generated_secrets }}"
    run: "{{ mlflow_provision_secrets_run }}"
"""

RETURN = r"""
secrets:
  description: Each secret - C(name), C(key) (its place in the store), C(where) (for people), C(variable), C(state) (present, new, rotated, missing, check).
  type: list
  elements: dict
  returned: always
store:
  description: The store's kind.
  type: str
  returned: always
"""
