# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Action plugin validate_input: a role's input, checked on the controller before any change."""

from __future__ import annotations

# Documentation: plugins/modules/validate_input.py (ansible-doc reads it there).
import hashlib
import json
import secrets as random_secrets
from pathlib import Path

import yaml
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.role_inputs import (
    CHECKS,
    role_problems,
    rule_problems,
)
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.wiring import (
    CAPACITY_INPUTS,
    DEPLOY_CHECK_INPUTS,
    deploy_check_values,
    typed,
)
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.role_defaults import (
    effective_values,
)

FACT = "mlflow_provision_input_problems"
# Rule sets already passed in this run: {rules: fingerprint of the values checked}. The role's
# own check (its `main.yml`) finds the preflight's verdict here and does not check again; a value
# changed since (a later play's vars) gives another fingerprint, and the check runs.
VERDICTS = "mlflow_provision_input_verdicts"
# Secrets enter the fingerprint through a slow salted hash, never as themselves.
_SECRET_ROUNDS = 20_000
# Strings shorter than this are not masked in messages: masking "a" would mangle every word.
_MIN_SECRET = 4


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = self._task.args
        name = args.get("rules")
        if name not in CHECKS:
            return {
                **result,
                "failed": True,
                "msg": f"rules: {name!r} is not one of {', '.join(CHECKS)}",
            }

        secrets, spec = set(), None
        if args.get("values") is None and name in _ACROSS_ROLES:
            values = _ACROSS_ROLES[name](self, task_vars)
        elif args.get("values") is not None:
            values = self._templar.template(args["values"])
            secrets |= _secrets_of(values, sensitive=False)
        else:
            spec = self._argument_spec(args.get("entry_point", "all"))
            values = self._templar.template(
                {key: task_vars[key] for key in spec if key in task_vars}
            )
            for key, option in spec.items():
                if option.get("no_log") and key in values:
                    secrets |= _secrets_of(values[key], sensitive=True)

        facts = task_vars.get("ansible_facts", {})
        verdicts = dict(facts.get(VERDICTS) or {})
        key = f"{name}:{args.get('entry_point', 'all')}"
        salt = verdicts.get("salt") or random_secrets.token_hex(16)
        fingerprint = _fingerprint(values, secrets, salt)
        deferred = list(facts.get(FACT) or [])
        if verdicts.get(key) == fingerprint and not deferred:
            result.update(
                changed=False, problems=[], msg=f"input of {name} was checked earlier in this run"
            )
            return result
        if spec is None:
            problems = rule_problems(name, values, self._read)
        else:
            problems = role_problems(name, spec, values, self._read)
        if not problems:
            verdicts.update({"salt": salt, key: fingerprint})

        everything = [_mask(text, secrets) for text in deferred + problems]
        if args.get("defer"):
            return {
                **result,
                "changed": False,
                "problems": everything,
                "ansible_facts": {FACT: everything, VERDICTS: verdicts},
            }
        result.update(changed=False, ansible_facts={FACT: [], VERDICTS: verdicts})
        if everything:
            result["failed"] = True
            result["msg"] = [
                "Invalid input (nothing was changed); fix every line below:",
                *everything,
            ]
        else:
            result.update(problems=[], msg=f"input of {name} is valid")
        return result

    def _argument_spec(self, entry_point):
        """The options of one entry point, or with `all` those of every entry point (the role's
        whole contract: the preflight checks the day-2 variables too)."""
        role = self._task._role
        if role is None:
            raise AnsibleError("validate_input runs inside a role (or give `values`)")
        path = Path(role._role_path) / "meta" / "argument_specs.yml"
        specs = yaml.safe_load(path.read_text())["argument_specs"]
        if entry_point != "all":
            return specs[entry_point].get("options", {})
        options = {}
        for spec in specs.values():
            options.update(spec.get("options", {}))
        return options

    def _read(self, path):
        """The text of a controller file, found the way lookup('file') finds it, else None."""
        try:
            found = self._find_needle("files", str(Path(str(path)).expanduser()))
            return Path(found).read_text(errors="replace")
        except (AnsibleError, OSError):
            return None


def _deploy_values(action, task_vars):
    """The cross-role rules' values: the inventory's, else the roles' own defaults."""
    found = effective_values(action._loader, action._templar, task_vars, DEPLOY_CHECK_INPUTS)
    found["mlflow_provision_local_mysql"] = task_vars.get("mlflow_provision_local_mysql", False)
    return deploy_check_values(found)


def _capacity_values(action, task_vars):
    """The MLflow sizes and what this host has (its gathered facts)."""
    found = effective_values(action._loader, action._templar, task_vars, CAPACITY_INPUTS)
    facts = task_vars.get("ansible_facts", {})
    return {
        **{key: typed(value) for key, value in found.items()},
        "vcpus": facts.get("processor_nproc") or facts.get("processor_vcpus") or 1,
        "memtotal_mb": facts.get("memtotal_mb") or 0,
    }


# Rule sets over several roles' variables, read here when the task gives no `values`.
_ACROSS_ROLES = {"deploy": _deploy_values, "capacity": _capacity_values}


def _fingerprint(values, secrets, salt):
    """A digest of the checked values; each secret is replaced by its salted slow hash first."""

    def hidden(secret):
        digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt.encode(), _SECRET_ROUNDS)
        return "secret:" + digest.hex()

    def walk(value):
        if isinstance(value, str):
            return hidden(value) if value in secrets else value
        if isinstance(value, dict):
            return {str(k): walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    text = json.dumps(walk(values), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _secrets_of(value, sensitive):
    """The secret strings inside a value: all of a no_log option's, else passwords and keys."""
    found = set()
    if isinstance(value, str):
        if sensitive and len(value) >= _MIN_SECRET:
            found.add(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            secret = (sensitive and key not in ("name", "user")) or any(
                word in str(key).lower()
                for word in ("password", "secret", "key", "token", "connection")
            )
            found |= _secrets_of(item, secret)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= _secrets_of(item, sensitive)
    return found


def _mask(text, secrets):
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "********")
    return text
