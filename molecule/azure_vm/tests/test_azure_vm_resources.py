"""What role azure_vm left in (fake) Azure, read back with the real Azure SDK."""

import json
import os
from pathlib import Path

import pytest

testinfra_hosts = ["local://"]

ENV = json.loads(
    (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "fake-arm" / "env.json").read_text()
)
RG = "rg-molecule"


@pytest.fixture(scope="module")
def arm():
    os.environ.update({k: v for k, v in ENV.items() if k != "FAKE_ARM_URL"})
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.storage import StorageManagementClient

    kwargs = {
        "base_url": ENV["FAKE_ARM_URL"],
        "credential_scopes": [ENV["FAKE_ARM_URL"] + "/.default"],
    }
    credential = DefaultAzureCredential()
    sub = ENV["AZURE_SUBSCRIPTION_ID"]
    return {
        "network": NetworkManagementClient(credential, sub, **kwargs),
        "compute": ComputeManagementClient(credential, sub, **kwargs),
        "storage": StorageManagementClient(credential, sub, **kwargs),
    }


def test_nsg_opens_ssh_to_admins_only_and_mlflow_to_private_ranges(arm):
    nsg = arm["network"].network_security_groups.get(RG, "mlflow-nsg").as_dict()
    rules = {r["name"]: r["properties"] for r in nsg["properties"]["securityRules"]}
    ssh = rules["ssh-from-admin-ranges"]
    assert ssh["destinationPortRange"] == "22"
    assert ssh["sourceAddressPrefixes"] == ["198.51.100.0/24", "203.0.113.7/32"]
    assert {
        rules[n]["destinationPortRange"] for n in ("https-from-internet", "http-from-internet")
    } == {
        "443",
        "80",
    }
    assert rules["https-from-internet"]["sourceAddressPrefix"] == "Internet"
    mlflow = rules["mlflow-from-private-ranges"]
    assert mlflow["destinationPortRange"] == "5000"
    assert mlflow["sourceAddressPrefixes"] == ["10.42.0.0/16", "192.168.50.0/24"]
    assert all(r["access"] == "Allow" and r["direction"] == "Inbound" for r in rules.values())


def test_public_ip_is_standard_static_with_the_fqdn(arm):
    ip = arm["network"].public_ip_addresses.get(RG, "mlflow-ip").as_dict()
    assert ip["sku"]["name"] == "Standard"
    assert ip["properties"]["publicIPAllocationMethod"] == "Static"
    assert (
        ip["properties"]["dnsSettings"]["fqdn"] == "mlflow-molecule.westeurope.cloudapp.azure.com"
    )


def test_vm_has_key_only_login_and_a_managed_identity(arm):
    vm = arm["compute"].virtual_machines.get(RG, "mlflow-vm").as_dict()
    props = vm["properties"]
    assert props["hardwareProfile"]["vmSize"] == "Standard_B2s"
    assert props["storageProfile"]["imageReference"]["offer"] == "debian-12"
    linux = props["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True
    assert linux["ssh"]["publicKeys"][0]["path"] == "/home/azureuser/.ssh/authorized_keys"
    assert vm["identity"]["type"] == "SystemAssigned"
    assert vm["identity"]["principalId"]
    assert vm["tags"] == {"app": "mlflow", "managed-by": "mlflow-provision"}


def test_storage_account_is_https_only_and_private(arm):
    account = arm["storage"].storage_accounts.get_properties(RG, "mlflowmolecule").as_dict()
    assert account["kind"] == "StorageV2"
    assert account["properties"]["supportsHttpsTrafficOnly"] is True
    assert account["properties"]["minimumTlsVersion"] == "TLS1_2"
    assert account["properties"]["allowBlobPublicAccess"] is False
    container = arm["storage"].blob_containers.get(RG, "mlflowmolecule", "mlflow").as_dict()
    assert container["properties"]["publicAccess"] == "None"
