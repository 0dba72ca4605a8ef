#!/usr/bin/python
# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Module mlflow_server_auth: MLflow's users and permissions as declared."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mlflow_server_auth
short_description: Reconcile the users and permissions of MLflow's basic-auth app
description:
  - Creates the declared users, sets a password only when it does not match the stored hash,
    sets admin flags and the users' own grants on experiments and registered models (creating
    those when missing), and with O(purge) deletes users that are not declared (never the admin).
  - Talks to the running server's REST API as the admin; checks passwords against the auth
    database, so it must run with the Python of the MLflow venv (set C(ansible_python_interpreter))
    and reads that database as O(run_as) (the service account that owns it).
  - Supports check mode (reports what it would do) and diff mode (the list of actions).
options:
  url: {description: "Base URL of the server, e.g. http://127.0.0.1:5000.", type: str, required: true}
  auth_config: {description: The auth app's configuration file (basic_auth.ini)., type: path, required: true}
  run_as: {description: "Account that reads the auth database; empty keeps the current one.", type: str, default: ""}
  admin_username: {description: The admin account., type: str, required: true}
  admin_password: {description: The admin's current password., type: str, required: true}
  users:
    description: Declared users.
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: User name., type: str, required: true}
      password: {description: Password., type: str, required: true}
      admin: {description: Administrator., type: bool, default: false}
  purge: {description: Delete users that are not declared., type: bool, default: false}
  experiment_permissions:
    description: Grants on experiments.
    type: list
    elements: dict
    default: []
    suboptions:
      user: {description: User., type: str, required: true}
      experiment: {description: Experiment name., type: str, required: true}
      permission: {description: Permission., type: str, required: true, choices: [READ, EDIT, MANAGE, NO_PERMISSIONS]}
  model_permissions:
    description: Grants on registered models.
    type: list
    elements: dict
    default: []
    suboptions:
      user: {description: User., type: str, required: true}
      model: {description: Registered model name., type: str, required: true}
      permission: {description: Permission., type: str, required: true, choices: [READ, EDIT, MANAGE, NO_PERMISSIONS]}
author:
  - mlflow-provision developers (@mlflow-provision)
"""

EXAMPLES = r"""
- name: Reconcile MLflow users and permissions
  mlflow_provision.tracking.mlflow_server_auth:
    url: http://127.0.0.1:5000
    auth_config: /etc/mlflow/basic_auth.ini
    run_as: mlflow
    admin_username: admin
    admin_password: "{{ vault_admin_password }}"
    users: [{name: alice, password: "{{ vault_alice }}"}]
    experiment_permissions: [{user: alice, experiment: churn, permission: EDIT}]
  vars:
    ansible_python_interpreter: /opt/mlflow/current/bin/python
"""

RETURN = r"""
actions: {description: What was (or in check mode would be) done; never a password., type: list, elements: str, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.mlflow_auth_sync import (
    Failure,
    reconcile,
    requests,
)
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.run_as import (
    reconcile_and_exit,
)

PERMISSIONS = ["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"]


def _desired(params, check):
    return {
        "url": params["url"],
        "auth_config": params["auth_config"],
        "admin": {"username": params["admin_username"], "password": params["admin_password"]},
        "users": params["users"],
        "purge": params["purge"],
        "experiment_permissions": params["experiment_permissions"],
        "model_permissions": params["model_permissions"],
        "check": check,
    }


def _run(desired):
    try:
        return reconcile(desired)
    except Failure as exc:
        return {"failed": True, "msg": str(exc)}
    except Exception as exc:  # requests and the auth database: a message, never a traceback
        return {"failed": True, "msg": f"{type(exc).__name__}: {exc}"}


def _grants(resource):
    """Argument spec of a list of grants on `resource` (experiment or model)."""
    return {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "user": {"type": "str", "required": True},
            resource: {"type": "str", "required": True},
            "permission": {"type": "str", "required": True, "choices": PERMISSIONS},
        },
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "auth_config": {"type": "path", "required": True},
            "run_as": {"type": "str", "default": ""},
            "admin_username": {"type": "str", "required": True},
            "admin_password": {"type": "str", "required": True, "no_log": True},
            "users": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "password": {"type": "str", "required": True, "no_log": True},
                    "admin": {"type": "bool", "default": False},
                },
            },
            "purge": {"type": "bool", "default": False},
            "experiment_permissions": _grants("experiment"),
            "model_permissions": _grants("model"),
        },
        supports_check_mode=True,
    )
    if requests is None:
        module.fail_json(msg="requests is missing: run this module with the MLflow venv's Python")
    desired = _desired(module.params, module.check_mode)
    reconcile_and_exit(module, _run, desired)


if __name__ == "__main__":
    main()
