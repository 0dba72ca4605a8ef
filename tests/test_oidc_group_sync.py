"""The group-grant reconciler of module mlflow_server_oidc_groups, against an in-memory store
with the method names of mlflow-oidc-auth's SqlAlchemyStore (the real one: molecule mlflow_auth)."""

from types import SimpleNamespace

from ansible_collections.mlflow_provision.tracking.plugins.module_utils import (
    oidc_group_sync as sync,
)


class Store:
    """Pattern grants per (group, kind), and the calls made."""

    def __init__(self, groups=(), grants=None):
        self.groups = list(groups)
        self.grants = grants or {}
        self.calls = []
        self.next_id = 100
        for kind, (_key, _label, methods) in sync.KINDS.items():
            list_, create, update, delete = methods
            setattr(self, list_, lambda group, kind=kind: list(self.grants.get((group, kind), [])))
            setattr(self, create, lambda *a, kind=kind: self._create(kind, *a))
            setattr(self, update, lambda *a, kind=kind: self._update(kind, *a))
            setattr(self, delete, lambda *a, kind=kind: self._delete(kind, *a))

    def get_groups(self):
        return list(self.groups)

    def populate_groups(self, names):
        self.calls.append(("populate", tuple(names)))
        self.groups += names

    def _create(self, kind, group, regex, priority, permission):
        self.calls.append(("create", kind, group, regex, permission))
        self.next_id += 1
        grant = SimpleNamespace(
            id=self.next_id, regex=regex, priority=priority, permission=permission
        )
        self.grants.setdefault((group, kind), []).append(grant)

    def _update(self, kind, grant_id, group, regex, priority, permission):
        self.calls.append(("update", kind, group, regex, permission))
        for grant in self.grants[(group, kind)]:
            if grant.id == grant_id:
                grant.permission, grant.priority = permission, priority

    def _delete(self, kind, group, grant_id):
        self.calls.append(("delete", kind, group, grant_id))
        self.grants[(group, kind)] = [g for g in self.grants[(group, kind)] if g.id != grant_id]


DECLARED = [
    {"group": "team-a", "experiments": "team-a/", "permission": "EDIT"},
    {"group": "team-a", "models": "team-a-", "permission": "READ"},
    {"group": "team-b", "experiments": "team-b/", "permission": "MANAGE"},
]


def test_a_fresh_store_gets_groups_and_grants_then_nothing_changes():
    store = Store()
    result = sync.reconcile(DECLARED, store)
    assert result["changed"]
    assert store.calls[0] == ("populate", ("team-a", "team-b"))
    assert ("create", "models", "team-a", "team-a-", "READ") in store.calls
    assert sync.reconcile(DECLARED, store) == {"changed": False, "actions": []}


def test_check_mode_reports_and_changes_nothing():
    store = Store()
    result = sync.reconcile(DECLARED, store, check=True)
    assert "create group team-a" in result["actions"]
    assert "grant MANAGE on experiments matching 'team-b/' for group team-b" in result["actions"]
    assert store.calls == [] and store.grants == {}


def test_drift_is_corrected_and_only_listed_groups_are_touched():
    def grant(i, regex, permission, priority=sync.PRIORITY):
        return SimpleNamespace(id=i, regex=regex, priority=priority, permission=permission)

    store = Store(
        groups=["team-a", "team-b", "ops"],
        grants={
            ("team-a", "experiments"): [grant(1, "team-a/", "READ"), grant(2, "old/", "EDIT")],
            ("team-a", "models"): [grant(3, "team-a-", "READ", priority=5)],
            ("ops", "experiments"): [grant(4, ".*", "READ")],
        },
    )
    result = sync.reconcile(DECLARED, store)
    assert result["actions"] == [
        "revoke EDIT on experiments matching 'old/' for group team-a",
        "change READ to EDIT on experiments matching 'team-a/' for group team-a",
        "set priority 100 of READ on registered models matching 'team-a-' for group team-a",
        "grant MANAGE on experiments matching 'team-b/' for group team-b",
    ]
    assert [g.regex for g in store.grants[("ops", "experiments")]] == [".*"]
    assert not sync.reconcile(DECLARED, store)["changed"]
