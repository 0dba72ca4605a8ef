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
]


def test_azure_vm_valid_input_has_no_problem():
    assert problems("azure_vm", AZURE_VM_VALID) == []


@pytest.mark.parametrize(
    ("overrides", "expected"), AZURE_VM_INVALID, ids=[e for _, e in AZURE_VM_INVALID]
)
def test_azure_vm_names_the_variable(overrides, expected):
    found = problems("azure_vm", {**AZURE_VM_VALID, **overrides})
    assert any(expected in text for text in found), found
