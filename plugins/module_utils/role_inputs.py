# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Each role's input rules: what its argument spec cannot say, every problem at once.

The rules of each role are in plugins/module_utils/inputs_<role>.py (``inputs_deploy``: those
across roles); this module runs the argument spec's type checks, then them.

``CHECKS[name](v, read)`` returns the problems of one role (or of the wiring between roles,
``deploy``) as a list of messages, each starting with the variable it is about. ``v`` holds
the role's variables after the argument spec's type checks (only those of the entry point being
checked: base's ``ca_trust`` entry point has no firewall variables); ``read(path)`` returns the
text of a file on the controller or None. Plain Python: tests/test_inputs_*.py call these
directly, the action plugin ``validate_input`` calls them in every role's validate.yml.
"""

from __future__ import annotations

import copy

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

try:  # Loaded by Ansible as collection content, or by the tests from .cache/collections.
    from ansible_collections.mlflow_provision.tracking.plugins.module_utils import (
        input_rules as r,
    )
    from ansible_collections.mlflow_provision.tracking.plugins.module_utils import (
        inputs_azure_vm,
        inputs_base,
        inputs_deploy,
        inputs_mlflow_server,
        inputs_mysql,
        inputs_nginx_tls,
    )
except ImportError:  # pragma: no cover - ansible-test sanity imports it by this path too
    from . import input_rules as r  # type: ignore[no-redef]
    from . import (  # type: ignore[no-redef]
        inputs_azure_vm,
        inputs_base,
        inputs_deploy,
        inputs_mlflow_server,
        inputs_mysql,
        inputs_nginx_tls,
    )


def role_problems(name, options, raw, read):
    """Types and choices from the argument spec's `options`, then the rules of role `name`.

    `raw` holds the role's variables as the inventory gives them (templated). The rules run on
    the values the spec converted; they are skipped when a type is wrong (reported once).
    """
    problems = []
    # The spec's defaults for what is not given (Ansible passes every variable; the tests not).
    defaults = {key: copy.deepcopy(o["default"]) for key, o in options.items() if "default" in o}
    raw = {**defaults, **raw}
    for key, option in options.items():
        if option.get("type") == "list" and isinstance(raw.get(key), str):
            # The spec would turn "a,b" into ["a", "b"] without a word.
            problems.append(f"{key}: {r.not_a_string(raw[key])}")
    validated = ArgumentSpecValidator(options).validate(raw, validate_role_argument_spec=True)
    for text in validated.error_messages:
        # "value of x must be one of: a, b, got: c" reads as the rules' "x: ..." messages do.
        problems.append(text[len("value of ") :] if text.startswith("value of ") else text)
    if problems:
        return problems
    return rule_problems(name, validated.validated_parameters, read)


def rule_problems(name, values, read):
    """The rules of `name` (a role, or `deploy`); a value they cannot handle is a problem too."""
    try:
        return CHECKS[name](values, read)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [
            f"{name}: the input could not be checked ({type(exc).__name__}: {exc}); check its types"
        ]


CHECKS = {
    "base": inputs_base.check_base,
    "capacity": inputs_deploy.check_capacity,
    "base_lockout": inputs_base.check_base_lockout,
    "mysql": inputs_mysql.check_mysql,
    "nginx_tls": inputs_nginx_tls.check_nginx_tls,
    "mlflow_server": inputs_mlflow_server.check_mlflow_server,
    "azure_vm": inputs_azure_vm.check_azure_vm,
    "deploy": inputs_deploy.check_deploy,
}
