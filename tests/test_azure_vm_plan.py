"""Role azure_vm's resource graph (plugins/module_utils/azure_vm_plan.py), without Azure."""

from ansible_collections.mlflow_provision.tracking.plugins.module_utils import azure_vm_plan as ap
from ansible_collections.mlflow_provision.tracking.plugins.modules.azure_vm_stack import (
    ARGUMENT_SPEC,
)

SUB = "00000000-0000-4000-8000-000000000001"


def params(**given):
    p = {key: spec.get("default") for key, spec in ARGUMENT_SPEC.items()}
    p.update(
        resource_group="rg",
        location="westeurope",
        name="mlflow",
        dns_label="mlflow-x",
        admin_cidrs=["198.51.100.0/24"],
        image={"publisher": "Debian", "offer": "debian-12", "sku": "12-gen2", "version": "latest"},
        ssh_public_key="ssh-ed25519 AAAA test",
        **given,
    )
    return p


BALANCED = {
    "layout": "load_balanced",
    "vm_count": 3,
    "storage_account": "mlflowx",
    "postgres_server": "mlflow-pg",
    "postgres_admin_password": "Secret-Pass-1",
}


def test_every_resource_comes_after_what_it_needs():
    for given in ({}, BALANCED, {**BALANCED, "postgres_server": ""}, {"postgres_server": "pg-1"}):
        seen = set()
        for r in ap.plan(params(**given), SUB):
            assert set(r.deps) <= seen, (r.key, r.deps)
            seen.add(r.key)


def test_single_layout_is_the_one_of_before():
    keys = [r.key for r in ap.plan(params(storage_account="acct"), SUB)]
    assert keys == [
        "rg",
        "vnet",
        "nsg",
        "ip",
        "storage",
        "container",
        "blob_protection",
        "nic",
        "vm",
    ]


def test_destroy_keeps_data_and_what_it_needs():
    resources = ap.plan(params(**BALANCED), SUB)
    kept = ap.kept(resources, destroy_data=False)
    # The database keeps its network (and that network's NAT gateway), the zone and its link.
    assert {"pg", "storage", "vnet", "natgw", "nat_ip", "pg_zone", "pg_link"} <= kept
    assert not {"vm-1", "nic-1", "lb", "ip", "identity", "blob_role", "nsg"} & kept
    # With the data: only what is not deleted by itself (the group, children of a parent).
    assert ap.kept(resources, destroy_data=True) == {r.key for r in resources if not r.deletable}


def test_critical_path_is_the_longest_chain():
    resources = ap.plan(params(**BALANCED), SUB)
    seconds = {r.key: 1.0 for r in resources if r.lro and r.body is not None}
    # NAT IP -> NAT gateway -> network -> DNS link -> server -> TLS setting.
    assert ap.critical_path(resources, seconds) == 6.0
    assert ap.critical_path(resources, {"vm-2": 5.0}) == 5.0


def test_role_assignment_name_is_stable_and_the_tier_follows_the_sku():
    scope = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"
    assert ap.role_assignment_name(scope, "id") == ap.role_assignment_name(scope.upper(), "id")
    assert ap.role_assignment_name(scope, "id") != ap.role_assignment_name(scope, "other")
    assert [ap.pg_tier(s) for s in ("Standard_B1ms", "Standard_D2ds_v5", "Standard_E4ds_v5")] == [
        "Burstable",
        "GeneralPurpose",
        "MemoryOptimized",
    ]


def test_surplus_vms_go_before_the_balancer_changes():
    resources = ap.plan(params(**{**BALANCED, "vm_count": 1}), SUB, surplus=(2, 3))
    by_key = {r.key: r for r in resources}
    assert by_key["lb"].after == ("surplus-nic-2", "surplus-nic-3")
    assert by_key["surplus-nic-2"].deps == ("surplus-vm-2",)
    assert "surplus-nic-2" in by_key["surplus-vm-2"].references  # destroy: the VM first
    assert [r.key for r in resources if r.key.startswith("vm-")] == ["vm-1"]
