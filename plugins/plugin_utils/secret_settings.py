# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""The deployment's secret store settings, read from a host's variables (controller side).

Deployment-wide variables (like ansible_* connection variables, not one role's):
  mlflow_provision_secrets_store        local (default) | vault | azure_keyvault
  mlflow_provision_secrets_scope        the group a host's secrets belong to: the host's
                                        name, a cluster's first host's (module_utils/wiring.py)
  mlflow_provision_secrets_dir          local: ~/.config/mlflow-provision/credentials
  mlflow_provision_secrets_vault_file   vault: the encrypted file
  mlflow_provision_secrets_keyvault_url azure_keyvault: https://<vault>.vault.azure.net
  mlflow_provision_rotate               names to make again on purpose, in this run
Facts the deploy sets: mlflow_provision_secrets_host ({deployed: bool}, playbooks/secrets.yml),
mlflow_provision_secrets_preview (validate.yml: stand-ins, nothing stored)."""

from __future__ import annotations

import os

from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_policy import (
    Request,
)
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_store import (
    default_dir,
    open_store,
)


def _get(templar, variables, name, default=None):
    if name not in variables:
        return default
    return templar.template(variables[name])


def store_settings(templar, variables) -> dict:
    return {
        "kind": _get(templar, variables, "mlflow_provision_secrets_store", "local") or "local",
        "dir": _get(templar, variables, "mlflow_provision_secrets_dir") or default_dir(),
        "vault_file": _get(templar, variables, "mlflow_provision_secrets_vault_file"),
        "keyvault_url": _get(templar, variables, "mlflow_provision_secrets_keyvault_url"),
    }


def store_for(templar, loader, variables):
    settings = store_settings(templar, variables)
    vault = getattr(loader, "_vault", None)
    return open_store(
        settings["kind"],
        dir=settings["dir"],
        vault_file=settings["vault_file"],
        vault_secrets=getattr(vault, "secrets", None),
        keyvault_url=settings["keyvault_url"],
    )


def request_for(templar, variables, store, name, *, dir=None, in_use=None, length=32, chars=None):
    """The Request for secret `name` of this host: its key in `store`, and whether the host
    uses it (given, else from what the deploy read on the host, else unknown)."""
    host = str(_get(templar, variables, "inventory_hostname", "localhost"))
    scope = str(_get(templar, variables, "mlflow_provision_secrets_scope", None) or host)
    root = _get(templar, variables, "mlflow_provision_secrets_dir") or default_dir()
    local_key = os.path.join(os.path.expanduser(str(dir or os.path.join(root, scope))), name)
    key = local_key if store.kind == "local" else f"{scope}/{name}"
    if in_use is None:
        read = _get(templar, variables, "mlflow_provision_secrets_host", None)
        if isinstance(read, dict) and "deployed" in read:
            in_use = bool(read["deployed"])
    return Request(
        name=name,
        key=key,
        host=host,
        in_use=in_use,
        length=int(length),
        chars=tuple(chars or ("ascii_letters", "digits")),
        local_key=local_key,
    )


def flag(templar, variables, name) -> bool:
    value = _get(templar, variables, name, False)
    return str(value).lower() in ("1", "true", "yes", "on")


class Session:
    """What the action mlflow_provision.tracking.secrets asks of the lookups it triggers, in
    its own process: rotate these names (once per run), or only report (never make, never
    refuse); each lookup reports {name, key, where, state} and any refusal here."""

    current = None

    def __init__(self, run=None, rotate=(), list_only=False, dry=False):
        self.run, self.rotate, self.list_only = run, {str(n) for n in rotate or ()}, list_only
        # dry: resolve as check mode does (nothing written), to find every refusal first.
        self.dry = dry
        self.seen, self.problems = [], []

    def __enter__(self):
        Session.current = self
        return self

    def __exit__(self, *exc):
        Session.current = None

    @staticmethod
    def report_only(store, req: Request) -> tuple[str, str]:
        """(a stand-in, present | missing): for listing, nothing made, nothing refused."""
        found = store.get(req.key)
        return ("*" * 16, "present") if found is not None else ("*" * 16, "missing")

    def rotation(self, req: Request) -> str | None:
        if self.run and (req.name in self.rotate or req.key in self.rotate):
            return self.run
        return None
