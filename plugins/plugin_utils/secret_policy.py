# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""When a generated secret may be made: never while a host uses a value the store lacks.

The deploy reads each host before any change (playbooks/secrets.yml): whether it already runs
a deployment (MLflow's environment file exists) and which basic-auth users its password file
has. A secret missing from the store is then made only when no host uses it; otherwise the run
stops, naming the secret, where the store looks for it, and the two ways on (supply the store
that holds it, or rotate it on purpose). Rotation is deliberate (`mlflow_provision_rotate`),
and happens once per run however many hosts share the secret."""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_store import (
    LocalStore,
    Store,
    StoreError,
    generate,
)


class SecretRefused(Exception):
    """A secret that must not be made now (the message says why and what to do)."""


@dataclass
class Request:
    name: str  # what people and mlflow_provision_rotate call it: "mlflow.password"
    key: str  # where the store keeps it: "<scope>/<name>" (local: may be a path)
    host: str
    in_use: bool | None = None  # None: nobody read the host
    length: int = 32
    chars: tuple = ("ascii_letters", "digits")
    # Where the local store keeps it on this machine (a path): a team store that lacks the
    # secret takes this machine's value, the one its deploys have been using.
    local_key: str | None = None


def rotate_hint(name: str) -> str:
    return f"""-e '{{"mlflow_provision_rotate": ["{name}"]}}'"""


def resolve(
    store: Store,
    req: Request,
    *,
    check_mode=False,
    preview=False,
    rotate_run: str | None = None,
) -> tuple[str, str]:
    """(value, what happened: present | new | imported | rotated | preview | check). In check
    mode nothing is written: "imported" and "rotated" say what a run would do, "check" that a
    secret would be made."""

    def make():
        return generate(req.length, req.chars)

    if rotate_run:
        if check_mode:
            return make(), "rotated"
        value, rotated = store.replace_once(req.key, make, rotate_run)
        return value, "rotated" if rotated else "present"
    try:
        found = store.get(req.key)
    except StoreError:
        if not (preview and store.kind == "azure_keyvault"):
            raise
        # Input checks before the key vault exists (site.yml makes it first).
        return make(), "preview"
    if found is not None:
        return found, "present"
    if store.kind != "local" and req.local_key:
        mine = LocalStore("/").get(req.local_key)
        if mine is not None:
            if check_mode:
                return mine, "imported"
            value, created = store.get_or_create(req.key, lambda: mine)
            return value, "imported" if created else "present"
    if req.in_use is None and preview:
        # Input checks without the hosts (playbooks/validate.yml, `mlflow-provision check`):
        # a stand-in of the right shape, never stored.
        return make(), "preview"
    if req.in_use is None:
        raise SecretRefused(
            f"secret {req.name} of {req.host} is not in the store ({store.where(req.key)}) and"
            " only a deploy may make one (it reads the hosts first): run `mlflow-provision"
            " deploy`, or supply the store that holds it"
        )
    if req.in_use:
        raise SecretRefused(
            f"secret {req.name} is missing from the store ({store.where(req.key)}) but {req.host}"
            " already uses one: nothing was changed. Supply the store that holds it (the"
            " team's store settings and access), or rotate it on purpose:"
            f" {rotate_hint(req.name)}"
        )
    if check_mode:
        return make(), "check"
    value, created = store.get_or_create(req.key, make)
    return value, "new" if created else "present"
