#!/usr/bin/python
# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Documentation of the action plugin validate_input (plugins/action/validate_input.py).

The work happens on the controller, in the action plugin; this file holds its documentation,
as for ansible.builtin.validate_argument_spec.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: validate_input
short_description: Check a role's variables, every problem at once, before anything changes
description:
  - Reads the variables the role's argument spec names (for the given entry point) from the
    task's variables, checks their types against the spec, then applies the role's own rules
    (in C(plugins/module_utils/inputs_<role>.py)) such as ranges, addresses, names, PEM files,
    and values that reach a command line, a unit file or a configuration file.
  - Fails with one message per problem, each starting with the variable's name. Secret values
    (the spec's C(no_log) options) are never repeated.
  - Runs on the controller only; it never contacts the host.
  - Checks each rule set once per run. When the same values already passed earlier in the run
    (the deploy preflight), it says so and does not check again. The verdicts are kept in the
    fact C(mlflow_provision_input_verdicts), as digests (secrets through a salted slow hash).
options:
  rules:
    description:
      - The rule set, one of C(base), C(mysql), C(mlflow_server), C(nginx_tls), C(azure_vm),
        C(deploy) (the rules that involve two roles) or C(capacity) (the MLflow sizes against
        the host's facts). Without O(values), C(deploy) and C(capacity) read their variables
        from the task's, else from the roles' own defaults.
    type: str
    required: true
  entry_point:
    description:
      - The argument spec entry point whose variables are checked; C(all) checks the options
        of every entry point (the role's whole contract, day-2 variables included).
    type: str
    default: all
  values:
    description:
      - Values to check instead of the role's (or the roles') variables.
    type: dict
  defer:
    description:
      - Do not fail, but add the problems to the fact C(mlflow_provision_input_problems).
      - The next task of this plugin that does not defer reports them together with its own,
        so that a preflight over several roles lists every problem of every role at once.
    type: bool
    default: false
author:
  - mlflow-provision developers (@mlflow-provision)
"""

EXAMPLES = r"""
- name: Check the role's input
  mlflow_provision.tracking.validate_input:
    rules: nginx_tls
"""

RETURN = r"""
problems:
  description: Every problem found (including deferred ones), each naming its variable.
  type: list
  elements: str
  returned: success (on failure, msg lists them)
"""
