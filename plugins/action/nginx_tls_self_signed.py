# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Action plugin nginx_tls_self_signed: role nginx_tls's self-signed key and certificate, kept on
the controller (plugins/module_utils/self_signed.py does the cryptography): in `dir`, or with a
team's secret store (mlflow_provision_secrets_store vault or azure_keyvault) there, as
`<scope>/server.key` and `<scope>/server.crt`."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import tempfile

# Documentation: plugins/modules/nginx_tls_self_signed.py.
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.mlflow_provision.tracking.plugins.module_utils import self_signed
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_settings import (
    request_for,
    store_for,
)
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_store import (
    StoreError,
    locked,
)

ARGUMENTS = {
    "dir": {"type": "path", "required": True},
    "names": {"type": "list", "elements": "str", "required": True},
    "ip_sans": {"type": "list", "elements": "str", "default": []},
    "days": {"type": "int", "default": 365},
    "adopt_key": {"type": "path"},
    "adopt_certificate": {"type": "path"},
}
KEY = "server.key"
CERTIFICATE = "server.crt"
LOCK = ".server.lock"


def _read(path):
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _write(path, content, mode):
    """Atomically, with its mode from the start (the key is never readable by others)."""
    fd, staged = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".nginx-tls-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(content)
        os.replace(staged, path)
    except BaseException:
        if os.path.exists(staged):
            os.unlink(staged)
        raise


@contextlib.contextmanager
def _held(directory, check_mode):
    """The directory's lock, held while its pair is read, planned and written: the hosts of a
    cluster share one directory and run this at the same time (one process per host); without
    it each would make its own key and serve its own certificate."""
    if check_mode:
        yield
        return
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(directory, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        checked = ArgumentSpecValidator(ARGUMENTS).validate(self._task.args)
        if checked.error_messages:
            raise AnsibleActionFail("; ".join(checked.error_messages))
        args = checked.validated_parameters
        if self_signed.MISSING:
            raise AnsibleActionFail(self_signed.MISSING)
        if not args["names"]:
            raise AnsibleActionFail("names: the certificate needs at least one name")
        try:
            store = store_for(self._templar, self._loader, task_vars)
        except StoreError as err:
            raise AnsibleActionFail(str(err)) from None
        if store.kind != "local":
            team = _TeamPair(store, self._templar, task_vars, args["dir"])
            try:
                with contextlib.ExitStack() as stack:
                    if not self._task.check_mode:
                        stack.enter_context(locked(store.lock_path()))
                    planned, adopted = self._pair(args, task_vars, team)
            except StoreError as err:
                raise AnsibleActionFail(str(err)) from None
        else:
            with _held(args["dir"], self._task.check_mode):
                planned, adopted = self._pair(args, task_vars)
        changed = adopted or planned["new_key"] or planned["signed"]
        result.update(
            changed=changed,
            key=planned["key"],
            certificate=planned["certificate"],
            adopted=adopted,
            new_key=planned["new_key"],
            signed=planned["signed"],
            reasons=planned["reasons"],
        )
        return result

    def _pair(self, args, task_vars, team=None):
        """The pair to serve (made, renewed or adopted), written to the directory (or the team's
        store) when new."""
        key_path = os.path.join(args["dir"], KEY)
        cert_path = os.path.join(args["dir"], CERTIFICATE)
        key, cert = team.read() if team else (None, None)
        adopted = False
        if key is None:
            # Store local, or a team store not yet holding it: this machine's pair (in use).
            key, cert = _read(key_path), _read(cert_path)
            adopted = team is not None and key is not None
        if key is None and args["adopt_key"] and args["adopt_certificate"]:
            # A host deployed by an older release made its own pair: keep serving it.
            host_key = self._slurp(args["adopt_key"], task_vars)
            host_cert = self._slurp(args["adopt_certificate"], task_vars)
            if host_key and host_cert:
                key, cert, adopted = host_key, host_cert, True
        planned = self_signed.plan(key, cert, args["names"], args["ip_sans"], args["days"])
        changed = adopted or planned["new_key"] or planned["signed"]
        if changed and not self._task.check_mode:
            if team:
                team.write(planned["key"], planned["certificate"])
            else:
                os.makedirs(args["dir"], mode=0o700, exist_ok=True)
                _write(key_path, planned["key"], 0o600)
                _write(cert_path, planned["certificate"], 0o644)
        return planned, adopted

    def _slurp(self, path, task_vars):
        """The host's file (as the task's become user), or None when it does not exist."""
        answer = self._execute_module(
            module_name="ansible.builtin.slurp",
            module_args={"src": path},
            task_vars=task_vars,
        )
        if answer.get("failed"):
            return None
        return base64.b64decode(answer["content"]).decode("ascii")


class _TeamPair:
    """The pair in a team's secret store, under the host's scope."""

    def __init__(self, store, templar, task_vars, directory):
        self.store = store
        self.keys = [
            request_for(templar, task_vars, store, name, dir=directory).key
            for name in (KEY, CERTIFICATE)
        ]

    def read(self):
        key, cert = (self.store.get(name) for name in self.keys)
        if key is None or cert is None:
            return None, None
        return key + "\n", cert + "\n"

    def write(self, key, cert):
        self.store.put(self.keys[1], cert.rstrip("\n"))
        self.store.put(self.keys[0], key.rstrip("\n"))
