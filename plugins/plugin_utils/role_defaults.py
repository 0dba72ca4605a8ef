# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""The value a role would see for its variables, from outside the role (controller side).

A play that wires roles together runs before the roles are loaded, so their defaults are not
among the task's variables. This reads them from the collection's own roles/<role>/defaults/
main.yml (never a copy) and templates them the way the role would.
"""

from __future__ import annotations

from pathlib import Path

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
_ROLES = ("mlflow_server", "nginx_tls", "mysql", "base", "azure_vm")


def role_of(name: str) -> str:
    for role in _ROLES:
        if name.startswith(role + "_"):
            return role
    raise KeyError(f"{name} is no role's variable")


def effective_values(loader, templar, task_vars: dict, names) -> dict:
    """Each name's value: the task's variable when set, else its role's default (templated with
    the task's variables and the other defaults, as inside the role)."""
    defaults = {}
    for role in sorted({role_of(name) for name in names}):
        path = ROLES_DIR / role / "defaults" / "main.yml"
        defaults.update(loader.load_from_file(str(path)) or {})
    variables = {**defaults, **task_vars}
    env = templar.copy_with_new_env(available_variables=variables)
    return {name: env.template(variables[name]) for name in names if name in variables}
