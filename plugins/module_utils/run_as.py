# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Run a reconciler as another account, in a child process, and report its actions.

The modules that reconcile an auth app's database (mlflow_server_auth, mlflow_server_oidc_groups)
read and write it as the service account that owns it; the module process itself keeps its
identity, so Ansible's temporary files stay removable.
"""

from __future__ import annotations

import json
import os
import pwd


def run_as(account, function, argument):
    """function(argument) as `account`; its result must be JSON. Failures come back as
    {"failed": True, "msg": ...}, never as a traceback."""
    entry = pwd.getpwnam(account)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - exercised on the hosts (molecule mlflow_auth)
        os.close(read_end)
        try:
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            os.environ["HOME"] = entry.pw_dir
            result = function(argument)
        except Exception as exc:
            result = {"failed": True, "msg": f"running as {account}: {exc}"}
        with os.fdopen(write_end, "w") as out:
            json.dump(result, out)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as source:
        text = source.read()
    os.waitpid(child, 0)
    return json.loads(text) if text else {"failed": True, "msg": "the reconciler exited silently"}


def reconcile_and_exit(module, function, desired):
    """function(desired) -> {"actions"} or {"failed", "msg"}, as module.params["run_as"] when
    root; exits the module with changed, the actions and a diff of them."""
    account = module.params["run_as"]
    result = (
        run_as(account, function, desired) if account and os.geteuid() == 0 else function(desired)
    )
    if result.get("failed"):
        module.fail_json(msg=result["msg"], actions=[])
    actions = result["actions"]
    diff = {"before": "", "after": "".join(f"{action}\n" for action in actions)}
    module.exit_json(changed=bool(actions), actions=actions, diff=diff)
