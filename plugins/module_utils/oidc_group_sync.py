# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Reconcile the group grants of mlflow-oidc-auth (auth mode oidc) with a declared list.

Used by the module mlflow_server_oidc_groups, which runs on the host with the MLflow venv's
Python, as the service account that owns the app's database. The declared grants:
[{"group", "experiments" | "models", "permission"}], where experiments / models is a regular
expression the app matches from the start of a name (re.match).

They become the app's *pattern* grants of each listed group ("group regex" permissions), which
apply to experiments and models that exist now and to those made later: a team's grant on
`team-a/` covers every experiment its members create under that prefix. Pattern grants of a
listed group that are not declared are removed; groups that are not listed, and grants on a
single experiment or model (made in the app's UI), are left alone. Declared grants carry the
priority PRIORITY: a pattern grant made in the UI with a lower number wins over them.

Idempotent; with "check" it only reports what it would do. The workers cache what they decided
for PERMISSION_CACHE_TTL_SECONDS (30 s by default): a change reaches them within that time.
"""

from __future__ import annotations

PRIORITY = 100

# kind -> (the declared key, the label, the store's method names: list, create, update, delete)
KINDS = {
    "experiments": (
        "experiments",
        "experiments",
        (
            "list_group_experiment_regex_permissions",
            "create_group_experiment_regex_permission",
            "update_group_experiment_regex_permission",
            "delete_group_experiment_regex_permission",
        ),
    ),
    "models": (
        "models",
        "registered models",
        (
            "list_group_registered_model_regex_permissions",
            "create_group_registered_model_regex_permission",
            "update_group_registered_model_regex_permission",
            "delete_group_registered_model_regex_permission",
        ),
    ),
}


def declared(grants):
    """{group: {kind: {pattern: permission}}} from the declared list (validated before)."""
    wanted = {}
    for grant in grants:
        kind = "experiments" if grant.get("experiments") else "models"
        wanted.setdefault(grant["group"], {"experiments": {}, "models": {}})
        wanted[grant["group"]][kind][grant[kind]] = grant["permission"]
    return wanted


def reconcile(grants, store, check=False):
    """Bring the listed groups' pattern grants to `grants`; returns {"changed", "actions"}."""
    wanted = declared(grants)
    actions = []
    existing = set(store.get_groups())
    missing = sorted(set(wanted) - existing)
    for group in missing:
        actions.append(f"create group {group}")
    if missing and not check:
        store.populate_groups(missing)
    for group in sorted(wanted):
        for kind, (_key, label, methods) in KINDS.items():
            list_, create, update, delete = (getattr(store, name) for name in methods)
            held = [] if group in missing else list_(group)
            want = dict(wanted[group][kind])
            for grant in sorted(held, key=lambda g: (str(g.regex), g.id)):
                permission = want.pop(grant.regex, None)
                where = f"{label} matching {grant.regex!r} for group {group}"
                if permission is None:
                    actions.append(f"revoke {grant.permission} on {where}")
                    if not check:
                        delete(group, grant.id)
                elif permission != grant.permission or grant.priority != PRIORITY:
                    if permission != grant.permission:
                        actions.append(f"change {grant.permission} to {permission} on {where}")
                    else:
                        actions.append(f"set priority {PRIORITY} of {permission} on {where}")
                    if not check:
                        update(grant.id, group, grant.regex, PRIORITY, permission)
            for pattern, permission in sorted(want.items()):
                actions.append(
                    f"grant {permission} on {label} matching {pattern!r} for group {group}"
                )
                if not check:
                    create(group, pattern, PRIORITY, permission)
    return {"changed": bool(actions), "actions": actions}


def open_store(db_uri):
    """The app's store over its database (already migrated by the deploy)."""
    import os

    os.environ["OIDC_USERS_DB_URI"] = db_uri
    from mlflow_oidc_auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(db_uri)
    return store
