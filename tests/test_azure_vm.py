"""Role azure_vm's module against the fake Azure Resource Manager, with the real Azure SDK."""

import pytest
from fake_arm import FORBIDDEN_SUBSCRIPTION, SUBSCRIPTION

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBhPMBgZ5n1p1jM7o6l4mQvA0l2n9o3tq8Jk1y2z3a4b test@ci"
NET = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{{rg}}/providers/Microsoft.Network"


def args(rg, **overrides):
    return {
        "subscription_id": SUBSCRIPTION,
        "resource_group": rg,
        "location": "westeurope",
        "name": "mlflow",
        "tags": {"app": "mlflow"},
        "admin_cidrs": ["198.51.100.0/24"],
        "dns_label": f"mlflow-{rg}",
        "image": {
            "publisher": "Debian",
            "offer": "debian-12",
            "sku": "12-gen2",
            "version": "latest",
        },
        "ssh_public_key": KEY,
        "storage_account": f"mlflow{rg.replace('-', '')}"[:24],
        **overrides,
    }


def test_create_from_nothing(fake, stack):
    result, writes = stack(args("rg-create"))
    assert result.get("failed") is not True, result.get("msg", result)
    kinds = [
        path.split("/providers/")[-1].split("/")[1] if "/providers/" in path else "rg"
        for _, path in writes
    ]
    assert all(method == "PUT" for method, _ in writes)
    # The resource group first; the NIC after what it references; the VM last.
    assert kinds[0] == "rg"
    assert set(kinds[1:5]) == {
        "virtualNetworks",
        "networkSecurityGroups",
        "publicIPAddresses",
        "storageAccounts",
    }
    assert kinds.index("networkInterfaces") > 4
    assert kinds[-1] == "virtualMachines"
    assert any(p.endswith("/blobServices/default/containers/mlflow") for _, p in writes)
    assert result["fqdn"] == "mlflow-rg-create.westeurope.cloudapp.azure.com"
    assert result["public_ip"].startswith("20.50.")
    assert result["private_ip"] == "10.42.1.4"
    assert len(result["principal_id"]) == 36
    assert result["vm_id"].endswith("/providers/Microsoft.Compute/virtualMachines/mlflow-vm")


def test_bodies_have_the_shape_arm_requires(fake):
    # What the fake stored is what the module sent (plus computed values).
    net = NET.format(rg="rg-create")
    nsg = fake.get(f"{net}/networkSecurityGroups/mlflow-nsg")["properties"]["securityRules"]
    rules = {r["name"]: r["properties"] for r in nsg}
    assert rules["ssh-from-admin-ranges"]["sourceAddressPrefix"] == "198.51.100.0/24"
    assert rules["ssh-from-admin-ranges"]["destinationPortRange"] == "22"
    assert rules["https-from-internet"]["sourceAddressPrefix"] == "Internet"
    assert rules["mlflow-from-private-ranges"]["sourceAddressPrefix"] == "10.42.0.0/16"
    assert rules["mlflow-from-private-ranges"]["destinationPortRange"] == "5000"
    ip = fake.get(f"{net}/publicIPAddresses/mlflow-ip")
    assert ip["sku"]["name"] == "Standard"
    assert ip["properties"]["publicIPAllocationMethod"] == "Static"
    vm = fake.get(
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-create/providers/"
        "Microsoft.Compute/virtualMachines/mlflow-vm"
    )
    linux = vm["properties"]["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True
    assert linux["ssh"]["publicKeys"][0]["keyData"] == KEY
    assert "adminPassword" not in vm["properties"]["osProfile"]
    assert vm["identity"]["type"] == "SystemAssigned"
    assert vm["properties"]["hardwareProfile"]["vmSize"] == "Standard_B2s"
    storage = fake.get(
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-create/providers/"
        "Microsoft.Storage/storageAccounts/mlflowrgcreate"
    )
    assert storage["kind"] == "StorageV2"
    assert storage["properties"] == {
        **storage["properties"],
        "supportsHttpsTrafficOnly": True,
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": False,
    }
    # Backups do not copy Blob artifacts: soft delete and versioning protect them.
    service = fake.get(
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-create/providers/"
        "Microsoft.Storage/storageAccounts/mlflowrgcreate/blobServices/default"
    )
    assert service["properties"] == {
        "deleteRetentionPolicy": {"enabled": True, "days": 14},
        "containerDeleteRetentionPolicy": {"enabled": True, "days": 14},
        "isVersioningEnabled": True,
    }


def test_second_run_writes_nothing(stack):
    result, writes = stack(args("rg-create"))
    assert writes == []
    assert result["changed"] is False
    assert result["actions"] == []


def test_changed_rule_makes_exactly_one_put(stack):
    result, writes = stack(args("rg-create", admin_cidrs=["203.0.113.7/32"]))
    assert [m for m, _ in writes] == ["PUT"]
    assert writes[0][1].endswith("/networkSecurityGroups/mlflow-nsg")
    assert result["actions"] == ["update network security group mlflow-nsg"]


def test_check_mode_writes_nothing_and_shows_the_plan(stack):
    result, writes = stack(args("rg-planned"), check=True, diff=True)
    assert writes == []
    assert result["changed"] is True
    assert result["actions"][0] == "create resource group rg-planned"
    assert "create virtual machine mlflow-vm" in result["actions"]
    assert "virtual machine mlflow-vm" in result["diff"]["after"]


def test_destroy_in_dependency_order_and_keeps_the_group(fake, stack):
    stack(args("rg-destroy"))
    result, writes = stack(args("rg-destroy", state="absent"))
    assert result.get("failed") is not True, result.get("msg", result)
    kinds = [p.split("/")[-2] for _, p in writes]
    assert [m for m, _ in writes] == ["DELETE"] * 5
    # What references a resource goes first; what is free at the same time goes together.
    assert kinds[:2] == ["virtualMachines", "networkInterfaces"]
    assert sorted(kinds[2:]) == ["networkSecurityGroups", "publicIPAddresses", "virtualNetworks"]
    assert fake.get(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-destroy") is not None
    result, writes = stack(args("rg-destroy", state="absent"))
    assert writes == [] and result["changed"] is False


def test_independent_resources_are_written_together(fake, stack):
    start = len(fake.timeline)
    stack(args("rg-together"))
    puts = [(t, p) for t, m, p in fake.timeline[start:] if m == "PUT"]
    stage = [
        t
        for t, p in puts
        if p.rsplit("/", 2)[-2]
        in ("virtualNetworks", "networkSecurityGroups", "publicIPAddresses", "storageAccounts")
    ]
    nic = next(t for t, p in puts if "/networkInterfaces/" in p)
    # All four started before any of them finished (each takes at least one poll).
    assert len(stage) == 4 and max(stage) - min(stage) < 0.9 * fake.poll_seconds
    assert nic > max(stage)


@pytest.mark.parametrize(
    ("overrides", "setup", "expected"),
    [
        ({}, "dns", "azure_vm_dns_label 'mlflow-rg-errors' is already taken in westeurope"),
        (
            {"vm_size": "Standard_M416ms_v2"},
            None,
            "azure_vm_size Standard_M416ms_v2 is not offered in westeurope",
        ),
        (
            {
                "image": {
                    "publisher": "Debian",
                    "offer": "debian-11",
                    "sku": "11",
                    "version": "latest",
                }
            },
            None,
            "azure_vm_image Debian:debian-11:11:latest is not available in westeurope",
        ),
        ({"vm_size": "Standard_D4s_v5"}, "quota", "quota exceeded in westeurope"),
        (
            {"subscription_id": "00000000-0000-4000-8000-000000000404"},
            None,
            "subscription 00000000-0000-4000-8000-000000000404 not found",
        ),
        (
            {"subscription_id": FORBIDDEN_SUBSCRIPTION},
            None,
            f"no permission in subscription {FORBIDDEN_SUBSCRIPTION}",
        ),
    ],
    ids=["dns-label-taken", "size", "image", "quota", "subscription", "permission"],
)
def test_errors_are_named(fake, stack, overrides, setup, expected):
    if setup == "dns":
        fake.taken_dns_labels.add(("westeurope", "mlflow-rg-errors"))
    quota = fake.core_quota
    if setup == "quota":
        fake.core_quota = 3
    try:
        result, _ = stack(args("rg-errors", storage_account="", **overrides))
    finally:
        fake.taken_dns_labels.clear()
        fake.core_quota = quota
    assert result.get("failed") is True
    assert result["msg"].startswith("Azure: " + expected), result["msg"]


def test_no_credentials_says_which_ways_work(stack):
    # The identity endpoint points at a closed loopback port: no address outside is contacted.
    result, writes = stack(args("rg-nocred"), env={"IDENTITY_ENDPOINT": "http://127.0.0.1:9/token"})
    assert writes == []
    assert result.get("failed") is True
    assert "no Azure credentials found" in result["msg"]
    assert "az login" in result["msg"]


def test_failed_operation_is_reported_with_arms_error(fake, stack):
    # ARM accepts the PUT, then the long-running operation ends in Failed with an error body.
    fake.inject["microsoft.compute/virtualmachines"] = (
        200,
        "AllocationFailed",
        "Allocation failed. We do not have sufficient capacity for the requested VM size.",
    )
    result, writes = stack(args("rg-failed", storage_account=""))
    assert writes[-1][1].endswith("/virtualMachines/mlflow-vm")
    assert result.get("failed") is True
    assert result["msg"].startswith("Azure: AllocationFailed: Allocation failed."), result["msg"]
