# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Action plugin secrets: every generated secret of a host, from the store, before any change."""

from __future__ import annotations

# Documentation: plugins/modules/secrets.py.
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import lookup_loader
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_settings import (
    Session,
    flag,
    store_for,
)
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_store import (
    StoreError,
)

LOOKUP = "mlflow_provision.tracking.secret"
# Variables that hold every other variable again, or Ansible's own.
_SKIP = {"vars", "hostvars", "groups", "group_names", "environment", "omit", "play_hosts"}


def _mentions(value) -> bool:
    if isinstance(value, str):
        return LOOKUP in value
    if isinstance(value, dict):
        return any(_mentions(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_mentions(v) for v in value)
    return False


def secret_variables(task_vars: dict) -> list:
    """The names of the variables whose definition calls the lookup (the inventory's generated
    secrets), sorted."""
    return sorted(
        name
        for name, value in task_vars.items()
        if name not in _SKIP and not name.startswith("ansible_") and _mentions(value)
    )


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = self._task.args
        list_only = bool(args.get("list_only", False))
        rotate = args.get("rotate")
        if rotate is None:
            rotate = self._templar.template(task_vars.get("mlflow_provision_rotate") or [])
        if isinstance(rotate, str):
            rotate = [part.strip() for part in rotate.split(",") if part.strip()]
        check_mode = flag(self._templar, task_vars, "ansible_check_mode")
        try:
            store = store_for(self._templar, self._loader, task_vars)
        except StoreError as err:
            return {**result, "failed": True, "msg": str(err)}
        declared = self._templar.template(args.get("declared") or [])
        # First without writing anything (the checks of check mode): every refusal of every
        # secret at once, and nothing made when any is refused. Then for real.
        found, problems = self._pass(task_vars, store, declared, rotate, args, list_only, True)
        unknown = sorted(set(rotate) - {s["name"] for s in found} - {s["key"] for s in found})
        if unknown and not list_only:
            problems.append(
                "mlflow_provision_rotate: "
                + ", ".join(unknown)
                + f" is not a generated secret of {task_vars.get('inventory_hostname')} (its"
                " generated secrets: "
                + (", ".join(sorted({s["name"] for s in found})) or "none")
                + ")"
            )
        if not problems and not list_only and not check_mode:
            found, problems = self._pass(task_vars, store, declared, rotate, args, False, False)
        result.update(
            # A new secret changes no host (the deploy that uses it does); a value taken into
            # the team's store or replaced on purpose is a change to the deployment.
            changed=any(s["state"] in ("imported", "rotated") for s in found),
            secrets=found,
            store=store.kind,
        )
        if problems:
            result["failed"] = True
            result["msg"] = [
                "Secrets: nothing was changed on any host; fix every line below:",
                *problems,
            ]
        return result

    def _pass(self, task_vars, store, declared, rotate, args, list_only, dry):
        """([{name, key, where, state, variable}], [problems]): `dry` writes nothing. Every
        secret goes through the lookup, in this process, so that one code path decides."""
        session = Session(run=args.get("run"), rotate=rotate, list_only=list_only, dry=dry)
        lookup = lookup_loader.get(LOOKUP, loader=self._loader, templar=self._templar)
        # The inventory's: templating the variable runs its lookups. The roles': named by them
        # ({name, dir, in_use}, e.g. nginx_tls_generated_secrets), looked up the same way.
        asks = [
            (name, lambda n=name: self._templar.template(task_vars[n]))
            for name in secret_variables(task_vars)
        ]
        asks += [
            (
                item.get("variable", ""),
                lambda item=item: lookup.run(
                    [item["name"]],
                    variables=task_vars,
                    **{k: item[k] for k in ("dir", "in_use", "length", "chars") if k in item},
                ),
            )
            for item in declared
        ]
        found, problems = [], []
        with session:
            for variable, ask in asks:
                before = len(session.seen)
                try:
                    ask()
                except AnsibleError:
                    if not session.problems:
                        # Not the store's problem (a variable set later in the run, ...): the
                        # roles' own checks report it.
                        continue
                problems += [f"{variable}: {text}" for text in session.problems]
                session.problems.clear()
                found += [{**item, "variable": variable} for item in session.seen[before:]]
        return found, problems
