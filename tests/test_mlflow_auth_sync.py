"""The user/permission reconciler of module mlflow_server_auth, against an in-memory MLflow.

The real server is exercised by molecule/mlflow_auth; here the decisions: what is created,
changed, left alone, purged, and what a check run only reports.
"""

import pytest
from ansible_collections.mlflow_provision.tracking.plugins.module_utils import (
    mlflow_auth_sync as sync,
)

ADMIN = {"username": "admin", "password": "admin password 1"}


class Response:
    def __init__(self, status, body=None):
        self.status_code, self.body = status, body

    def json(self):
        return self.body or {}

    @property
    def content(self):
        return b"{}" if self.body else b""


class FakeMlflow:
    """Users, experiments, models and grants, behind the endpoints the reconciler calls."""

    def __init__(self):
        self.users = {"admin": {"password": ADMIN["password"], "admin": True}}
        self.experiments, self.models, self.grants, self.writes = {}, set(), {}, []

    def password_matches(self, name, password):
        return self.users[name]["password"] == password

    def json(self, method, path, **kwargs):
        return self.call(method, path, **kwargs).json()

    def call(self, method, path, *, ok=(200,), params=None, json=None, **_):
        if method != "GET":
            self.writes.append((method, path))
        response = self._answer(method, path, params or {}, json or {})
        if response.status_code not in ok:
            raise sync.Failure(f"{method} {path}: HTTP {response.status_code}")
        return response

    def _answer(self, method, path, params, body):
        users = self.users
        if path.endswith("/users/list"):
            listed = [{"username": n, "is_admin": u["admin"]} for n, u in users.items()]
            return Response(200, {"users": listed})
        if path.endswith("/users/create"):
            users[body["username"]] = {"password": body["password"], "admin": False}
        elif path.endswith("/users/update-password"):
            users[body["username"]]["password"] = body["password"]
        elif path.endswith("/users/update-admin"):
            users[body["username"]]["admin"] = body["is_admin"]
        elif path.endswith("/users/delete"):
            del users[body["username"]]
        elif path.endswith("/experiments/get-by-name"):
            name = params["experiment_name"]
            if name not in self.experiments:
                return Response(404)
            return Response(200, {"experiment": {"experiment_id": self.experiments[name]}})
        elif path.endswith("/experiments/create"):
            self.experiments[body["name"]] = str(len(self.experiments) + 1)
            return Response(200, {"experiment_id": self.experiments[body["name"]]})
        elif path.endswith("/registered-models/get"):
            return Response(200 if params["name"] in self.models else 404, {"x": 1})
        elif path.endswith("/registered-models/create"):
            self.models.add(body["name"])
        elif path.endswith("/permissions/list"):
            rows = [
                {
                    "role_name": f"__user_{user}__",
                    "resource_type": kind,
                    "resource_pattern": rid,
                    "permission": perm,
                }
                for (user, kind, rid), perm in self.grants.items()
                if user == params["username"]
            ]
            return Response(200, {"permissions": rows})
        elif path.endswith("/permissions/grant"):
            key = (body["username"], body["resource_type"], body["resource_id"])
            self.grants[key] = body["permission"]
        elif path.endswith("/permissions/revoke"):
            del self.grants[(body["username"], body["resource_type"], body["resource_id"])]
        else:
            raise AssertionError(f"unexpected {method} {path}")
        return Response(200)


def desired(**changes):
    state = {
        "url": "http://127.0.0.1:5000",
        "auth_config": "/etc/mlflow/basic_auth.ini",
        "admin": ADMIN,
        "users": [
            {"name": "alice", "password": "alice password 1"},
            {"name": "dave", "password": "dave password 12", "admin": True},
        ],
        "purge": False,
        "experiment_permissions": [{"user": "alice", "experiment": "churn", "permission": "EDIT"}],
        "model_permissions": [{"user": "alice", "model": "scorer", "permission": "READ"}],
        "check": False,
    }
    return {**state, **changes}


def run(fake, state):
    return sync.reconcile(state, api=fake, password_matches=fake.password_matches)


@pytest.fixture
def fake():
    return FakeMlflow()


def test_from_nothing_then_idempotent(fake):
    first = run(fake, desired())
    assert first["changed"] is True
    assert first["actions"] == [
        "create user alice",
        "create user dave (admin)",
        "set admin=true for user dave",
        "create experiment churn",
        "grant EDIT on experiment churn for user alice",
        "create registered model scorer",
        "grant READ on registered model scorer for user alice",
    ]
    assert fake.users["dave"]["admin"] is True
    assert fake.grants == {
        ("alice", "experiment", "1"): "EDIT",
        ("alice", "registered_model", "scorer"): "READ",
    }
    writes = len(fake.writes)
    assert run(fake, desired()) == {"changed": False, "actions": []}
    assert len(fake.writes) == writes, "an idempotent run wrote something"


def test_check_mode_reports_and_writes_nothing(fake):
    planned = run(fake, desired(check=True))
    assert fake.writes == []
    assert "create user alice" in planned["actions"]
    assert "grant EDIT on experiment churn for user alice" in planned["actions"]
    assert run(fake, desired())["actions"] == planned["actions"]


def test_drift_is_repaired_and_unlisted_users_purged(fake):
    run(fake, desired())
    fake.users["alice"]["password"] = "changed behind our back"
    fake.grants[("alice", "experiment", "1")] = "MANAGE"
    fake.users["mallory"] = {"password": "x" * 12, "admin": False}
    result = run(fake, desired(purge=True))
    assert sorted(result["actions"]) == [
        "change MANAGE to EDIT on experiment churn for user alice",
        "delete user mallory",
        "set the password of user alice",
    ]
    assert "mallory" not in fake.users and "admin" in fake.users  # the admin is never purged
    assert fake.users["alice"]["password"] == "alice password 1"


def test_without_purge_unlisted_users_stay(fake):
    fake.users["mallory"] = {"password": "x" * 12, "admin": False}
    run(fake, desired())
    assert "mallory" in fake.users


def test_wrong_admin_password_is_named_without_the_password(fake):
    class Refusing(FakeMlflow):
        def _answer(self, method, path, params, body):
            return (
                Response(401)
                if path.endswith("/users/list")
                else super()._answer(method, path, params, body)
            )

    with pytest.raises(sync.Failure) as failure:
        run(Refusing(), desired(admin={"username": "admin", "password": "not the password"}))
    assert "cannot log in with mlflow_server_auth_admin_password" in str(failure.value)
    assert "not the password" not in str(failure.value)


def test_grant_for_an_unknown_user_fails(fake):
    state = desired(
        experiment_permissions=[{"user": "zed", "experiment": "e", "permission": "READ"}]
    )
    with pytest.raises(sync.Failure, match="no such user"):
        run(fake, state)
