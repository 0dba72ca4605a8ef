# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Reconcile MLflow's users and permissions with a declared state, through MLflow's REST API.

Used by the module mlflow_server_auth, which runs on the host with the MLflow venv's Python.
The desired state: {"url", "auth_config", "admin": {"username", "password"},
"users": [{"name", "password", "admin"}], "purge", "check",
"experiment_permissions": [{"user", "experiment", "permission"}],
"model_permissions": [{"user", "model", "permission"}]}.

Idempotent: a password is only set when it does not match the stored hash, an admin flag only
when it differs, a permission only when the user's own grant on that resource differs. With
"check" it only reports what it would do.

Passwords are checked against the auth database itself, not by logging in: with MLflow's
credential cache on (auth_cache_ttl_seconds), a worker may still accept a password that was
changed in another worker, and the reconciler would miss the drift. It must run as the service
account, which owns the auth database and its configuration.
"""

from __future__ import annotations

import os

try:
    import requests
except ImportError:  # pragma: no cover - the module reports it
    requests = None

USERS = "/api/2.0/mlflow/users"
PERMISSIONS = "/api/3.0/mlflow/users/permissions"


class Failure(Exception):
    pass


class Api:
    def __init__(self, url, username, password):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (username, password)

    def call(self, method, path, *, auth=None, ok=(200,), **kwargs):
        response = self.session.request(method, self.url + path, auth=auth, timeout=30, **kwargs)
        if response.status_code not in ok:
            detail = " ".join(response.text.split())[:300]
            raise Failure(f"{method} {path}: HTTP {response.status_code}: {detail}")
        return response

    def json(self, method, path, **kwargs):
        response = self.call(method, path, **kwargs)
        return response.json() if response.content else {}


def stored_password_checker(auth_config):
    """A function (name, password) -> bool over the auth database, without any cache."""
    os.environ["MLFLOW_AUTH_CONFIG_PATH"] = auth_config
    from mlflow.server.auth.config import read_auth_config
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(read_auth_config().database_uri)
    return store.authenticate_user


def _resource_id(api, kind, name, state):
    """The id MLflow grants on: an experiment's id, a registered model's name."""
    if kind == "experiment":
        found = api.call(
            "GET",
            "/api/2.0/mlflow/experiments/get-by-name",
            params={"experiment_name": name},
            ok=(200, 404),
        )
        if found.status_code == 200:
            return found.json()["experiment"]["experiment_id"]
        state["actions"].append(f"create experiment {name}")
        if state["check"]:
            return None
        created = api.json("POST", "/api/2.0/mlflow/experiments/create", json={"name": name})
        return created["experiment_id"]
    found = api.call(
        "GET", "/api/2.0/mlflow/registered-models/get", params={"name": name}, ok=(200, 404)
    )
    if found.status_code == 404:
        state["actions"].append(f"create registered model {name}")
        if not state["check"]:
            api.json("POST", "/api/2.0/mlflow/registered-models/create", json={"name": name})
    return name


def reconcile(desired, api=None, password_matches=None):
    """Bring MLflow's users and grants to `desired`; returns {"changed", "actions"}.

    `api` and `password_matches` default to MLflow's REST API at desired["url"] and the auth
    database of desired["auth_config"]; the unit tests pass fakes.
    """
    admin = desired["admin"]
    api = api or Api(desired["url"], admin["username"], admin["password"])
    state = {"check": bool(desired.get("check")), "actions": []}
    check = state["check"]

    listed = api.call("GET", f"{USERS}/list", ok=(200, 401, 403))
    if listed.status_code != 200:
        raise Failure(
            f"the admin {admin['username']!r} cannot log in with mlflow_server_auth_admin_password "
            f"(HTTP {listed.status_code}). The password is only used when the admin is created: "
            "set the variable to the admin's current password."
        )
    existing = {u["username"]: bool(u.get("is_admin")) for u in listed.json().get("users", [])}
    password_matches = password_matches or stored_password_checker(desired["auth_config"])
    pending = set()  # users a check run would create: they have no grants to read yet

    for user in desired["users"]:
        name, want_admin = user["name"], bool(user.get("admin", False))
        if name not in existing:
            state["actions"].append(f"create user {name}" + (" (admin)" if want_admin else ""))
            if check:
                pending.add(name)
            else:
                api.json(
                    "POST", f"{USERS}/create", json={"username": name, "password": user["password"]}
                )
            existing[name] = False
        elif not password_matches(name, user["password"]):
            state["actions"].append(f"set the password of user {name}")
            if not check:
                api.json(
                    "PATCH",
                    f"{USERS}/update-password",
                    json={"username": name, "password": user["password"]},
                )
        if existing[name] != want_admin:
            state["actions"].append(f"set admin={str(want_admin).lower()} for user {name}")
            if not check:
                api.json(
                    "PATCH",
                    f"{USERS}/update-admin",
                    json={"username": name, "is_admin": want_admin},
                )

    grants = [("experiment", p["experiment"], p) for p in desired["experiment_permissions"]]
    grants += [("registered_model", p["model"], p) for p in desired["model_permissions"]]
    resource_ids, held = {}, {}
    for kind, name, grant in grants:
        if (kind, name) not in resource_ids:
            resource_ids[(kind, name)] = _resource_id(api, kind, name, state)
        resource_id = resource_ids[(kind, name)]
        user, permission = grant["user"], grant["permission"]
        label = f"{permission} on {kind.replace('_', ' ')} {name} for user {user}"
        if user not in existing:
            raise Failure(f"permission {label}: no such user (list it in mlflow_server_auth_users)")
        if resource_id is None or user in pending:
            state["actions"].append(f"grant {label}")
            continue
        if user not in held:
            rows = api.json("GET", f"{PERMISSIONS}/list", params={"username": user})["permissions"]
            # The user's own grants live in a role MLflow names __user_<id>__.
            held[user] = {
                (r["resource_type"], str(r["resource_pattern"])): r["permission"]
                for r in rows
                if r["role_name"].startswith("__user_")
            }
        current = held[user].get((kind, str(resource_id)))
        if current == permission:
            continue
        target = {"username": user, "resource_type": kind, "resource_id": str(resource_id)}
        if current is not None:
            state["actions"].append(f"change {current} to {label}")
            if not check:
                api.json("POST", f"{PERMISSIONS}/revoke", json=target)
        else:
            state["actions"].append(f"grant {label}")
        if not check:
            api.json("POST", f"{PERMISSIONS}/grant", json={**target, "permission": permission})
        held[user][(kind, str(resource_id))] = permission

    if desired.get("purge"):
        keep = {u["name"] for u in desired["users"]} | {admin["username"]}
        for name in sorted(set(existing) - keep):
            state["actions"].append(f"delete user {name}")
            if not check:
                api.json("DELETE", f"{USERS}/delete", json={"username": name})

    return {"changed": bool(state["actions"]), "actions": state["actions"]}
