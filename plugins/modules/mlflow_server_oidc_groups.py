#!/usr/bin/python
# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Module mlflow_server_oidc_groups: the group grants of auth mode oidc as declared."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mlflow_server_oidc_groups
short_description: Reconcile the group grants of mlflow-oidc-auth (auth mode oidc)
description:
  - Creates the listed groups and gives each the declared grants on experiments and registered
    models whose names match a pattern (the app's group pattern grants, matched from the start of
    a name); removes the pattern grants of a listed group that are not declared. Groups that are
    not listed, and grants on single experiments or models, are left alone.
  - Writes the app's database through the app's own store, so it must run with the Python of the
    MLflow venv (set C(ansible_python_interpreter)) as O(run_as), the service account that owns
    that database. The server's workers see a change within the app's permission cache time (30 s).
  - Supports check mode (reports what it would do) and diff mode (the list of actions).
options:
  db_uri: {description: "The app's database (OIDC_USERS_DB_URI); may hold a password.", type: str, required: true}
  run_as: {description: "Account that owns the database; empty keeps the current one.", type: str, default: ""}
  grants:
    description: Declared grants.
    type: list
    elements: dict
    default: []
    suboptions:
      group: {description: Group name as the provider's groups claim carries it., type: str, required: true}
      experiments: {description: Pattern over experiment names (one of experiments and models)., type: str}
      models: {description: Pattern over registered model names (one of experiments and models)., type: str}
      permission: {description: Permission., type: str, required: true, choices: [READ, EDIT, MANAGE, NO_PERMISSIONS]}
author:
  - mlflow-provision developers (@mlflow-provision)
"""

EXAMPLES = r"""
- name: Reconcile the teams' grants
  mlflow_provision.tracking.mlflow_server_oidc_groups:
    db_uri: sqlite:////var/lib/mlflow/oidc_auth.db
    run_as: mlflow
    grants:
      - {group: team-a, experiments: "team-a/", permission: EDIT}
      - {group: team-a, models: "team-a-", permission: EDIT}
  vars:
    ansible_python_interpreter: /opt/mlflow/current/bin/python
"""

RETURN = r"""
actions: {description: What was (or in check mode would be) done., type: list, elements: str, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.oidc_group_sync import (
    open_store,
    reconcile,
)
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.run_as import (
    reconcile_and_exit,
)


def _run(desired):
    try:
        store = open_store(desired["db_uri"])
        return reconcile(desired["grants"], store, desired["check"])
    except ImportError as exc:
        return {
            "failed": True,
            "msg": f"mlflow-oidc-auth is not in this Python ({exc}): run with the MLflow venv's",
        }
    except Exception as exc:  # the app's database: a message, never a traceback
        return {"failed": True, "msg": f"{type(exc).__name__}: {exc}"}


def main():
    module = AnsibleModule(
        argument_spec={
            "db_uri": {"type": "str", "required": True, "no_log": True},
            "run_as": {"type": "str", "default": ""},
            "grants": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "group": {"type": "str", "required": True},
                    "experiments": {"type": "str"},
                    "models": {"type": "str"},
                    "permission": {
                        "type": "str",
                        "required": True,
                        "choices": ["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"],
                    },
                },
                "required_one_of": [["experiments", "models"]],
                "mutually_exclusive": [["experiments", "models"]],
            },
        },
        supports_check_mode=True,
    )
    desired = {
        "db_uri": module.params["db_uri"],
        "grants": module.params["grants"],
        "check": module.check_mode,
    }
    reconcile_and_exit(module, _run, desired)


if __name__ == "__main__":
    main()
