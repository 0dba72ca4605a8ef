#!/usr/bin/python
# Copyright: mlflow-provision contributors. Apache-2.0.

DOCUMENTATION = r"""
module: azure_vm_stack
short_description: The Azure resources of MLflow's VMs, created or removed in dependency order
description:
  - Layout C(single) - resource group, virtual network and subnet, network security group,
    Standard static public IP with a DNS label, NIC, Linux VM (SSH key only, system-assigned
    managed identity) and an optional storage account with a private blob container.
  - Layout C(load_balanced) - N VMs across availability zones without public IPs behind a
    Standard Load Balancer (zone-redundant public IP with the DNS label, HTTPS probe, rules for
    443 and 80, one inbound NAT rule per VM for SSH), a NAT gateway for outbound traffic, and one
    user-assigned identity for every VM with Storage Blob Data Contributor on the account.
  - Either layout, with C(postgres_server) - an Azure Database for PostgreSQL flexible server
    with private access only (delegated subnet, private DNS zone linked to the network), TLS
    required; its connection limit less Azure's reserved connections is returned.
  - The resources form a graph (plugins/module_utils/azure_vm_plan.py); each starts as soon as
    what it references exists.
  - Each resource is read first; it is written only when missing or different from what is
    asked, so a second run makes no write request. Independent resources are created
    concurrently (their pollers run together).
  - Check mode reads only and reports what would be created or changed; C(--diff) shows it.
  - Uses the Azure SDK directly with DefaultAzureCredential.
options:
  state:
    description:
      - present or absent.
      - probe only reads whether the deployment exists (its VMs or database server), for the
        deploy's secret check (RV(exists)); nothing is created.
    type: str
    choices: [present, absent, probe]
    default: present
  subscription_id: {description: "Subscription id.", type: str, required: true}
  cloud: {description: "Azure cloud.", type: str, choices: [public, china, usgov], default: public}
  resource_manager_endpoint: {description: "Explicit Resource Manager URL (overrides cloud).", type: str, default: ""}
  resource_group: {description: "Resource group.", type: str, required: true}
  delete_resource_group: {description: "With state absent, also delete the resource group.", type: bool, default: false}
  location: {description: "Region name, e.g. westeurope.", type: str, required: true}
  name: {description: "Prefix of every resource name.", type: str, required: true}
  tags: {description: "Tags on every resource.", type: dict, default: {}}
  vnet_address_prefixes: {description: "Address spaces of the virtual network.", type: list, elements: str, default: [10.42.0.0/16]}
  subnet_address_prefix: {description: "The subnet.", type: str, default: 10.42.1.0/24}
  admin_cidrs: {description: "Ranges allowed to SSH (port 22).", type: list, elements: str, required: true}
  private_cidrs: {description: "Ranges beside the virtual network allowed to reach port 5000.", type: list, elements: str, default: []}
  mlflow_port: {description: "The MLflow port kept private.", type: int, default: 5000}
  dns_label: {description: "DNS label of the public IP.", type: str, required: true}
  vm_size: {description: "VM size.", type: str, default: Standard_B2s}
  image: {description: "publisher, offer, sku, version.", type: dict, required: true}
  admin_username: {description: "Admin user.", type: str, default: azureuser}
  ssh_public_key: {description: "OpenSSH public key.", type: str, required: true}
  os_disk_type: {description: "Managed disk type.", type: str, default: StandardSSD_LRS}
  os_disk_size_gb: {description: "OS disk size.", type: int, default: 32}
  storage_account: {description: "Storage account to create (empty for none).", type: str, default: ""}
  storage_container: {description: "Private blob container in it.", type: str, default: mlflow}
  storage_soft_delete_days:
    description: Days deleted blobs and containers stay recoverable (blob soft delete, with versioning on).
    type: int
    default: 14
  layout: {description: "single (one VM, its own public IP) or load_balanced.", type: str, choices: [single, load_balanced], default: single}
  vm_count: {description: "VMs of the load-balanced layout.", type: int, default: 1}
  zones: {description: "Availability zones the VMs are spread over (empty - none).", type: list, elements: str, default: ["1", "2", "3"]}
  ssh_nat_port_base: {description: "VM i answers SSH on the balancer's port base + i.", type: int, default: 50000}
  probe_path: {description: "The balancer's HTTPS probe path.", type: str, default: /lb-health}
  probe_interval: {description: "Seconds between probes.", type: int, default: 5}
  probe_threshold: {description: "Failed probes that take a VM out.", type: int, default: 2}
  postgres_server: {description: "Flexible server name (empty - none).", type: str, default: ""}
  postgres_version: {description: "PostgreSQL major version.", type: str, default: "16"}
  postgres_sku: {description: "Compute SKU (the tier follows from it).", type: str, default: Standard_B1ms}
  postgres_storage_gb: {description: "Storage size.", type: int, default: 32}
  postgres_backup_retention_days: {description: "Backup retention (7-35).", type: int, default: 7}
  postgres_high_availability: {description: "Disabled, ZoneRedundant or SameZone.", type: str, choices: [Disabled, ZoneRedundant, SameZone], default: Disabled}
  postgres_admin_user: {description: "Administrator login.", type: str, default: mlflowadmin}
  postgres_admin_password: {description: "Administrator password (used when the server is created).", type: str, default: ""}
  postgres_subnet_prefix: {description: "The subnet delegated to the server.", type: str, default: 10.42.2.0/24}
  destroy_data: {description: "With state absent, also delete the database server and the storage account.", type: bool, default: false}
  keyvault_name:
    description: "A key vault for the team's secrets (RBAC mode, soft delete, purge protection); empty for none."
    type: str
    default: ""
  keyvault_secret_officers:
    description: "Principals given Key Vault Secrets Officer on the vault (operators, a pipeline's identity)."
    type: list
    elements: dict
    default: []
    suboptions:
      principal_id: {description: "Object id of the user, group or service principal.", type: str, required: true}
      principal_type: {description: "Its kind.", type: str, choices: [User, Group, ServicePrincipal], default: User}
  keyvault_retention_days: {description: "Days a deleted secret or vault stays recoverable (7-90).", type: int, default: 90}
  part:
    description:
      - all, or keyvault - only the resource group, the key vault and its role assignments (made
        first, so that the deploy can keep its secrets there before anything else exists).
    type: str
    choices: [all, keyvault]
    default: all
author:
  - mlflow-provision developers (@mlflow-provision)
"""

RETURN = r"""
fqdn: {description: "FQDN of the public IP.", type: str, returned: state present}
public_ip: {description: "Public IP address.", type: str, returned: state present}
private_ip: {description: "Private IP of the NIC.", type: str, returned: state present}
vm_id: {description: "Resource id of the VM.", type: str, returned: state present}
principal_id: {description: "Principal id of the VM's managed identity.", type: str, returned: state present}
storage_account: {description: "Storage account name (empty when none).", type: str, returned: state present}
layout: {description: "The layout.", type: str, returned: state present}
hosts:
  description: "Each VM - inventory name, SSH address and port, private IP, zone, resource id, and planned (check mode would create it)."
  type: list
  elements: dict
  returned: state present
identity_client_id: {description: "Client id of the shared identity (load_balanced).", type: str, returned: state present}
postgres_host: {description: "The flexible server's FQDN (empty when none).", type: str, returned: state present}
postgres_admin_user: {description: "Its administrator login.", type: str, returned: state present}
postgres_max_connections: {description: "Connections MLflow may use (max_connections less Azure's reserved).", type: int, returned: state present}
actions: {description: "What was (or in check mode would be) created, changed or deleted.", type: list, elements: str, returned: always}
keyvault_url: {description: "The key vault's URI (empty when none).", type: str, returned: state present}
exists: {description: "The deployment's VMs or database server exist (what they use must not be made again).", type: bool, returned: state probe}
"""

EXAMPLES = r"""
- name: Reconcile the Azure resources of one MLflow VM
  mlflow_provision.tracking.azure_vm_stack:
    subscription_id: 00000000-0000-0000-0000-000000000000
    resource_group: mlflow-rg
    location: westeurope
    name: mlflow
    dns_label: mlflow-team-a
    admin_cidrs: [203.0.113.0/24]
    image: {publisher: Debian, offer: debian-12, sku: 12-gen2, version: latest}
    ssh_public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mlflow_provision.tracking.plugins.module_utils import azure_vm_plan
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.azure_vm_arm import (
    IMPORT_ERROR,
    Arm,
    explain,
    get_or_none,
)
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.azure_vm_reconcile import (
    Reconciler,
)

# The input rules allow 1-20 VMs (plugins/module_utils/inputs_azure_vm.py).
MAX_VMS = 20


def surplus_vms(arm, p):
    """Load-balanced VMs above vm_count (the count was lowered): their indexes, up to the
    largest count allowed. Destroy finds and removes them too."""
    if p["layout"] != "load_balanced":
        return ()
    found = []
    for i in range(int(p["vm_count"]) + 1, MAX_VMS + 1):
        if get_or_none(
            arm.compute.virtual_machines.get, p["resource_group"], f"{p['name']}-{i}-vm"
        ):
            found.append(i)
        elif get_or_none(
            arm.network.network_interfaces.get, p["resource_group"], f"{p['name']}-{i}-nic"
        ):
            found.append(i)  # a VM already gone, its NIC left (an earlier run stopped)
        else:
            break
    return tuple(found)


def deployment_exists(arm, p):
    """Whether the VMs or the database server of this deployment exist (their passwords are
    in use: playbooks/secrets.yml must not make new ones)."""
    group = p["resource_group"]
    if not get_or_none(arm.resource.resource_groups.get, group):
        return False
    if p["postgres_server"] and get_or_none(arm.postgres.servers.get, group, p["postgres_server"]):
        return True
    names = [vm["vm"] for vm in azure_vm_plan.vm_names(p)] if p["layout"] != "single" else []
    names = names or [azure_vm_plan.names(p)["vm"]]
    return any(get_or_none(arm.compute.virtual_machines.get, group, name) for name in names)


def keyvault_url(p, results):
    if not p["keyvault_name"]:
        return ""
    return _props(results.get("keyvault")).get("vaultUri") or (
        f"https://{p['keyvault_name']}.vault.azure.net/"
    )


def _props(resource):
    return (resource or {}).get("properties") or {}


def outputs(p, results, ids, planned=()):
    """What the host roles need (role azure_vm's vm/inventory.yml hands it on). `planned`: the
    VMs check mode would create; they do not exist, so no host role can reach them yet."""
    n = azure_vm_plan.names(p)
    ip = _props(results.get("ip"))
    out = {
        "layout": p["layout"],
        "fqdn": (ip.get("dnsSettings") or {}).get("fqdn")
        or f"{p['dns_label']}.{p['location']}.cloudapp.azure.com",
        "public_ip": ip.get("ipAddress", ""),
        "storage_account": p["storage_account"],
        "identity_client_id": "",
        "postgres_host": "",
        "postgres_admin_user": "",
        "postgres_max_connections": 0,
    }

    def private_ip(nic):
        configs = _props(nic).get("ipConfigurations") or [{}]
        return _props(configs[0]).get("privateIPAddress", "")

    if p["layout"] == "single":
        vm = results.get("vm") or {}
        out.update(
            private_ip=private_ip(results.get("nic")),
            vm_id=vm.get("id") or ids("Microsoft.Compute", "virtualMachines", n["vm"]),
            principal_id=(vm.get("identity") or {}).get("principalId", ""),
        )
        out["hosts"] = [
            {
                "name": out["fqdn"],
                "ssh_host": out["fqdn"],
                "ssh_port": 22,
                "private_ip": out["private_ip"],
                "zone": "",
                "vm_id": out["vm_id"],
                "planned": n["vm"] in planned,
            }
        ]
    else:
        identity = _props(results.get("identity"))
        out.update(
            identity_client_id=identity.get("clientId", ""),
            principal_id=identity.get("principalId", ""),
        )
        out["hosts"] = [
            {
                "name": vm["host"],
                # Ansible reaches each VM through its inbound NAT rule on the balancer's address.
                "ssh_host": out["public_ip"] or out["fqdn"],
                "ssh_port": vm["ssh_port"],
                "private_ip": private_ip(results.get(f"nic-{vm['index']}")),
                "zone": vm["zone"],
                "vm_id": (results.get(f"vm-{vm['index']}") or {}).get("id")
                or ids("Microsoft.Compute", "virtualMachines", vm["vm"]),
                "planned": vm["vm"] in planned,
            }
            for vm in azure_vm_plan.vm_names(p)
        ]
    out["keyvault_url"] = keyvault_url(p, results)
    if p["postgres_server"]:
        server = _props(results.get("pg"))
        limit = _props(results.get("pg_max_connections")).get("value")
        out.update(
            postgres_host=server.get("fullyQualifiedDomainName")
            or f"{p['postgres_server']}.postgres.database.azure.com",
            postgres_admin_user=p["postgres_admin_user"],
            postgres_max_connections=max(0, int(limit) - azure_vm_plan.PG_RESERVED_CONNECTIONS)
            if str(limit or "").isdigit()
            else 0,
        )
    return out


ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent", "probe"], default="present"),
    subscription_id=dict(type="str", required=True),
    cloud=dict(type="str", choices=["public", "china", "usgov"], default="public"),
    resource_manager_endpoint=dict(type="str", default=""),
    resource_group=dict(type="str", required=True),
    delete_resource_group=dict(type="bool", default=False),
    location=dict(type="str", required=True),
    name=dict(type="str", required=True),
    tags=dict(type="dict", default={}),
    vnet_address_prefixes=dict(type="list", elements="str", default=["10.42.0.0/16"]),
    subnet_address_prefix=dict(type="str", default="10.42.1.0/24"),
    admin_cidrs=dict(type="list", elements="str", required=True),
    private_cidrs=dict(type="list", elements="str", default=[]),
    mlflow_port=dict(type="int", default=5000),
    dns_label=dict(type="str", required=True),
    vm_size=dict(type="str", default="Standard_B2s"),
    image=dict(type="dict", required=True),
    admin_username=dict(type="str", default="azureuser"),
    ssh_public_key=dict(type="str", required=True, no_log=False),
    os_disk_type=dict(type="str", default="StandardSSD_LRS"),
    os_disk_size_gb=dict(type="int", default=32),
    storage_account=dict(type="str", default=""),
    storage_container=dict(type="str", default="mlflow"),
    storage_soft_delete_days=dict(type="int", default=14),
    layout=dict(type="str", choices=["single", "load_balanced"], default="single"),
    vm_count=dict(type="int", default=1),
    zones=dict(type="list", elements="str", default=["1", "2", "3"]),
    ssh_nat_port_base=dict(type="int", default=50000),
    probe_path=dict(type="str", default="/lb-health"),
    probe_interval=dict(type="int", default=5),
    probe_threshold=dict(type="int", default=2),
    postgres_server=dict(type="str", default=""),
    postgres_version=dict(type="str", default="16"),
    postgres_sku=dict(type="str", default="Standard_B1ms"),
    postgres_storage_gb=dict(type="int", default=32),
    postgres_backup_retention_days=dict(type="int", default=7),
    postgres_high_availability=dict(
        type="str", choices=["Disabled", "ZoneRedundant", "SameZone"], default="Disabled"
    ),
    postgres_admin_user=dict(type="str", default="mlflowadmin"),
    postgres_admin_password=dict(type="str", default="", no_log=True),
    postgres_subnet_prefix=dict(type="str", default="10.42.2.0/24"),
    destroy_data=dict(type="bool", default=False),
    keyvault_name=dict(type="str", default=""),
    keyvault_secret_officers=dict(
        type="list",
        elements="dict",
        default=[],
        no_log=False,
        options=dict(
            principal_id=dict(type="str", required=True),
            principal_type=dict(
                type="str", choices=["User", "Group", "ServicePrincipal"], default="User"
            ),
        ),
    ),
    keyvault_retention_days=dict(type="int", default=90, no_log=False),
    part=dict(type="str", choices=["all", "keyvault"], default="all"),
)


def main():
    spec = ARGUMENT_SPEC
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if IMPORT_ERROR:
        module.fail_json(
            msg="the Azure SDK is missing on the controller (pip install azure-identity"
            " azure-mgmt-compute azure-mgmt-network azure-mgmt-resource azure-mgmt-storage"
            " azure-mgmt-postgresqlflexibleservers azure-mgmt-msi azure-mgmt-authorization"
            " azure-mgmt-privatedns azure-mgmt-keyvault)",
            exception=IMPORT_ERROR,
        )
    p = module.params
    context = {
        "subscription_id": p["subscription_id"],
        "location": p["location"],
        "dns_label": p["dns_label"],
        "vm_size": p["vm_size"],
        "image": ":".join(
            str(p["image"].get(k, "")) for k in ("publisher", "offer", "sku", "version")
        ),
        "endpoint": p["resource_manager_endpoint"] or p["cloud"],
        "postgres_server": p["postgres_server"],
    }
    reconciler = None
    try:
        arm = Arm(p["subscription_id"], p["cloud"], p["resource_manager_endpoint"])
        if p["state"] == "probe":
            module.exit_json(changed=False, actions=[], exists=deployment_exists(arm, p))
        if p["keyvault_name"]:
            p = {**p, "tenant_id": arm.tenant_id()}
        resources = azure_vm_plan.plan(p, arm.subscription_id, surplus_vms(arm, p))
        if p["part"] == "keyvault":
            resources = [r for r in resources if r.key == "rg" or r.key.startswith("keyvault")]
        reconciler = Reconciler(arm, p["resource_group"], module.check_mode)
        if p["state"] == "present":
            results = reconciler.present(resources)
            planned = {
                a.rsplit(" ", 1)[1]
                for a in reconciler.actions
                if module.check_mode and a.startswith("create virtual machine ")
            }
            ids = azure_vm_plan.Ids(arm.subscription_id, p["resource_group"])
            made = (
                outputs(p, results, ids, planned)
                if p["part"] == "all"
                else {"keyvault_url": keyvault_url(p, results)}
            )
        else:
            reconciler.absent(resources, p["destroy_data"], p["delete_resource_group"])
            made = {}
    except Exception as exc:  # every SDK failure becomes one line, never a traceback
        module.fail_json(
            msg=f"Azure: {explain(exc, context)}",
            actions=reconciler.actions if reconciler else [],
        )
    result = dict(changed=bool(reconciler.actions), actions=reconciler.actions, **made)
    if module._diff and reconciler.actions:
        result["diff"] = {"before": reconciler.before, "after": reconciler.after}
    module.exit_json(**result)


if __name__ == "__main__":
    os.environ.setdefault("AZURE_CORE_ONLY_SHOW_ERRORS", "1")
    main()
