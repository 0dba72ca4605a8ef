# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Action plugin validate_input: a role's input, checked on the controller before any change."""

from __future__ import annotations

# Documentation: plugins/modules/validate_input.py (ansible-doc reads it there).
from pathlib import Path

import yaml
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.role_inputs import (
    CHECKS,
    role_problems,
    rule_problems,
)

FACT = "mlflow_provision_input_problems"
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

        problems, secrets = [], set()
        if args.get("values") is not None:
            values = self._templar.template(args["values"])
            secrets |= _secrets_of(values, sensitive=False)
            problems += rule_problems(name, values, self._read)
        else:
            spec = self._argument_spec(args.get("entry_point", "main"))
            raw = self._templar.template({key: task_vars[key] for key in spec if key in task_vars})
            for key, option in spec.items():
                if option.get("no_log") and key in raw:
                    secrets |= _secrets_of(raw[key], sensitive=True)
            problems += role_problems(name, spec, raw, self._read)

        deferred = list(task_vars.get("ansible_facts", {}).get(FACT) or [])
        everything = [_mask(text, secrets) for text in deferred + problems]
        if args.get("defer"):
            return {
                **result,
                "changed": False,
                "problems": everything,
                "ansible_facts": {FACT: everything},
            }
        result.update(changed=False, ansible_facts={FACT: []})
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
        role = self._task._role
        if role is None:
            raise AnsibleError("validate_input runs inside a role (or give `values`)")
        path = Path(role._role_path) / "meta" / "argument_specs.yml"
        specs = yaml.safe_load(path.read_text())["argument_specs"]
        return specs[entry_point].get("options", {})

    def _read(self, path):
        """The text of a controller file, found the way lookup('file') finds it, else None."""
        try:
            found = self._find_needle("files", str(Path(str(path)).expanduser()))
            return Path(found).read_text(errors="replace")
        except (AnsibleError, OSError):
            return None


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
