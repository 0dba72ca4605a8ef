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


# --- the load-balanced layout (converge's second play) ------------------------------------------

LB_RG = "rg-molecule-lb"


@pytest.fixture(scope="module")
def more(arm):
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.msi import ManagedServiceIdentityClient
    from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient

    kwargs = {
        "base_url": ENV["FAKE_ARM_URL"],
        "credential_scopes": [ENV["FAKE_ARM_URL"] + "/.default"],
    }
    credential, sub = DefaultAzureCredential(), ENV["AZURE_SUBSCRIPTION_ID"]
    return {
        "postgres": PostgreSQLManagementClient(credential, sub, **kwargs),
        "msi": ManagedServiceIdentityClient(credential, sub, **kwargs),
        "authorization": AuthorizationManagementClient(credential, sub, **kwargs),
    }


def test_balancer_probes_the_drain_aware_endpoint_and_forwards_ssh_per_vm(arm):
    lb = arm["network"].load_balancers.get(LB_RG, "mlflow-lb").as_dict()
    probe = lb["properties"]["probes"][0]["properties"]
    assert (probe["protocol"], probe["port"], probe["requestPath"]) == ("Https", 443, "/lb-health")
    nat = sorted(
        (r["properties"]["frontendPort"], r["properties"]["backendPort"])
        for r in lb["properties"]["inboundNatRules"]
    )
    assert nat == [(50001, 22), (50002, 22)]


def test_vms_have_no_public_ip_and_leave_through_the_nat_gateway(arm):
    for i in (1, 2):
        nic = arm["network"].network_interfaces.get(LB_RG, f"mlflow-{i}-nic").as_dict()
        assert "publicIPAddress" not in nic["properties"]["ipConfigurations"][0]["properties"]
        vm = arm["compute"].virtual_machines.get(LB_RG, f"mlflow-{i}-vm").as_dict()
        assert vm["zones"] == [str(i)]
    subnet = arm["network"].subnets.get(LB_RG, "mlflow-vnet", "mlflow-subnet").as_dict()
    assert subnet["properties"]["natGateway"]["id"].endswith("/natGateways/mlflow-natgw")


def test_zone_redundant_postgres_with_private_access_and_tls(more):
    server = more["postgres"].servers.get(LB_RG, "mlflow-molecule-pg").as_dict()
    props = server["properties"]
    assert props["network"]["publicNetworkAccess"] == "Disabled"
    assert props["highAvailability"]["mode"] == "ZoneRedundant"
    assert server["sku"] == {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"}
    tls = more["postgres"].configurations.get(
        LB_RG, "mlflow-molecule-pg", "require_secure_transport"
    )
    assert tls.as_dict()["properties"]["value"] == "on"


def test_the_shared_identity_may_write_blobs(more):
    identity = more["msi"].user_assigned_identities.get(LB_RG, "mlflow-identity")
    scope = (
        f"/subscriptions/{ENV['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{LB_RG}"
        "/providers/Microsoft.Storage/storageAccounts/mlflowmoleculelb"
    )
    found = list(more["authorization"].role_assignments.list_for_scope(scope))
    assert [(a.principal_id, a.role_definition_id.rsplit("/", 1)[1]) for a in found] == [
        (identity.principal_id, "ba92f5b4-2d11-453d-a403-e96b0029c9fe")
    ]
