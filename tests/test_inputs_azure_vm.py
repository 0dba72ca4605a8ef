"""Role azure_vm's input rules: names Azure accepts, the admin networks, the SSH key, storage."""

import pytest
from fake_arm import SUBSCRIPTION
from inputs_support import (
    problems,
)
from test_azure_vm import KEY

AZURE_VM_VALID = {
    "azure_vm_subscription_id": SUBSCRIPTION,
    "azure_vm_resource_group": "rg-role",
    "azure_vm_dns_label": "mlflow-role-test",
    "azure_vm_admin_cidrs": ["198.51.100.0/24"],
    "azure_vm_ssh_public_key": KEY,
}
BALANCED = {"azure_vm_layout": "load_balanced", "azure_vm_count": 3}
POSTGRES = {
    **BALANCED,
    "azure_vm_postgres_server": "mlflow-pg-1",
    "azure_vm_postgres_admin_password": "Correct-Horse-Battery-9",
}
AZURE_VM_INVALID = [
    (
        {"azure_vm_dns_label": "MLflow_1"},
        'azure_vm_dns_label: "MLflow_1" breaks the Azure rule',
    ),
    ({"azure_vm_dns_label": "-x"}, 'azure_vm_dns_label: "-x" breaks the Azure rule'),
    ({"azure_vm_location": "West Europe"}, 'azure_vm_location: "West Europe" is not a region'),
    (
        {"azure_vm_admin_cidrs": ["10.0.0.300/24"]},
        'azure_vm_admin_cidrs[0]: "10.0.0.300/24" is not',
    ),
    ({"azure_vm_admin_cidrs": ["0.0.0.0/0"]}, "0.0.0.0/0 opens SSH to the whole Internet"),
    ({"azure_vm_admin_cidrs": []}, "azure_vm_admin_cidrs: required"),
    (
        {"azure_vm_ssh_public_key": "not a key"},
        "azure_vm_ssh_public_key: not an OpenSSH public key",
    ),
    (
        {"azure_vm_ssh_public_key": "", "azure_vm_ssh_public_key_file": "/nonexistent.pub"},
        "azure_vm_ssh_public_key: missing (and /nonexistent.pub is not readable)",
    ),
    (
        {"azure_vm_storage_account": "Mlflow-Artifacts"},
        'azure_vm_storage_account: "Mlflow-Artifacts" breaks',
    ),
    (
        {"azure_vm_subscription_id": "my-sub"},
        'azure_vm_subscription_id: "my-sub" is not a subscription id',
    ),
    ({"azure_vm_image": "centos"}, "azure_vm_image must be one of: debian12, ubuntu2404"),
    ({"azure_vm_storage_soft_delete_days": 0}, "azure_vm_storage_soft_delete_days: 0 is outside"),
    # Several VMs, the database: refused before any request reaches Azure.
    ({"azure_vm_count": 3}, "azure_vm_count: 3 VMs need azure_vm_layout: load_balanced"),
    ({**BALANCED, "azure_vm_count": 0}, "azure_vm_count: 0 is outside"),
    ({**BALANCED, "azure_vm_count": 21}, "azure_vm_count: 21 is outside"),
    ({**BALANCED, "azure_vm_zones": ["1", "4"]}, "azure_vm_zones: ['1', '4'] must be distinct"),
    ({**BALANCED, "azure_vm_ssh_nat_port_base": 65533}, "azure_vm_ssh_nat_port_base: 65533"),
    ({**BALANCED, "azure_vm_ssh_nat_port_base": 440}, "the SSH ports would take 80 or 443"),
    ({**POSTGRES, "azure_vm_postgres_sku": "B1ms"}, 'azure_vm_postgres_sku: "B1ms" is not a'),
    (
        {**POSTGRES, "azure_vm_postgres_high_availability": "ZoneRedundant"},
        "azure_vm_postgres_high_availability: ZoneRedundant is not offered on the Burstable tier",
    ),
    (
        {**POSTGRES, "azure_vm_postgres_subnet_prefix": "10.42.1.128/25"},
        "azure_vm_postgres_subnet_prefix: 10.42.1.128/25 overlaps azure_vm_subnet_address_prefix",
    ),
    (
        {**POSTGRES, "azure_vm_postgres_subnet_prefix": "10.9.0.0/24"},
        "azure_vm_postgres_subnet_prefix: 10.9.0.0/24 is outside azure_vm_vnet_address_prefixes",
    ),
    ({**POSTGRES, "azure_vm_postgres_server": "PG_1"}, 'azure_vm_postgres_server: "PG_1" must be'),
    (
        {**POSTGRES, "azure_vm_postgres_admin_user": "admin"},
        'azure_vm_postgres_admin_user: "admin"',
    ),
    (
        {**POSTGRES, "azure_vm_postgres_admin_password": ""},
        "azure_vm_postgres_admin_password: required with azure_vm_postgres_server",
    ),
    (
        {**POSTGRES, "azure_vm_postgres_admin_password": "alllowercase1"},
        "azure_vm_postgres_admin_password: Azure refuses it",
    ),
    ({**POSTGRES, "azure_vm_postgres_backup_retention_days": 3}, "backup_retention_days: 3 is"),
    ({**POSTGRES, "azure_vm_postgres_version": "11"}, 'azure_vm_postgres_version: "11" must be'),
    ({"azure_vm_layout": "cluster"}, "azure_vm_layout must be one of: single, load_balanced"),
    ({"azure_vm_keyvault_name": "mlflow--team"}, 'azure_vm_keyvault_name: "mlflow--team" breaks'),
    ({"azure_vm_keyvault_name": "1vault"}, 'azure_vm_keyvault_name: "1vault" breaks'),
    (
        {"azure_vm_keyvault_secret_officers": [{"principal_id": "alice@example.org"}]},
        "azure_vm_keyvault_secret_officers[0]: must be {principal_id: <object id, a GUID>",
    ),
    (
        {
            "azure_vm_keyvault_secret_officers": [
                {"principal_id": SUBSCRIPTION, "principal_type": "Robot"}
            ]
        },
        'azure_vm_keyvault_secret_officers[0].principal_type: "Robot" is not one of',
    ),
    ({"azure_vm_keyvault_retention_days": 5}, "azure_vm_keyvault_retention_days: 5 is"),
]


def test_azure_vm_valid_input_has_no_problem():
    assert problems("azure_vm", AZURE_VM_VALID) == []
    assert problems("azure_vm", {**AZURE_VM_VALID, **POSTGRES}) == []
    assert problems("azure_vm", {**AZURE_VM_VALID, **POSTGRES, "azure_vm_zones": []}) == []
    team = {
        "azure_vm_keyvault_name": "mlflow-team-kv",
        "azure_vm_keyvault_secret_officers": [
            {"principal_id": SUBSCRIPTION, "principal_type": "ServicePrincipal"}
        ],
    }
    assert problems("azure_vm", {**AZURE_VM_VALID, **team}) == []


@pytest.mark.parametrize(
    ("overrides", "expected"), AZURE_VM_INVALID, ids=[e for _, e in AZURE_VM_INVALID]
)
def test_azure_vm_names_the_variable(overrides, expected):
    found = problems("azure_vm", {**AZURE_VM_VALID, **overrides})
    assert any(expected in text for text in found), found
