#!/usr/bin/python
# Copyright: mlflow-provision contributors. Apache-2.0.

DOCUMENTATION = r"""
module: azure_vm_stack
short_description: The Azure resources of one MLflow VM, created or removed in dependency order
description:
  - Resource group, virtual network and subnet, network security group, Standard static public
    IP with a DNS label, NIC, Linux VM (SSH key only, system-assigned managed identity) and an
    optional storage account with a private blob container.
  - Each resource is read first; it is written only when missing or different from what is
    asked, so a second run makes no write request. Independent resources are created
    concurrently (their pollers run together).
  - Check mode reads only and reports what would be created or changed; C(--diff) shows it.
  - Uses the Azure SDK directly with DefaultAzureCredential.
options:
  state: {description: "present or absent.", type: str, choices: [present, absent], default: present}
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
actions: {description: "What was (or in check mode would be) created, changed or deleted.", type: list, elements: str, returned: always}
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
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.azure_vm_arm import (
    IMPORT_ERROR,
    Arm,
    differs,
    explain,
    get_or_none,
    wire,
)


class Stack:
    def __init__(self, module, arm):
        self.m, self.p, self.arm = module, module.params, arm
        self.sub = arm.subscription_id
        self.rg = self.p["resource_group"]
        self.actions, self.before, self.after = [], {}, {}
        n = self.p["name"]
        self.names = {
            "vnet": f"{n}-vnet",
            "subnet": f"{n}-subnet",
            "nsg": f"{n}-nsg",
            "ip": f"{n}-ip",
            "nic": f"{n}-nic",
            "vm": f"{n}-vm",
            "disk": f"{n}-osdisk",
        }

    # --- ids and bodies (REST shape) ---------------------------------------------------------

    def rid(self, provider, kind, name):
        return (
            f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/{provider}/{kind}/{name}"
        )

    def common(self):
        return {"location": self.p["location"], "tags": self.p["tags"]}

    def vnet_body(self):
        return {
            **self.common(),
            "properties": {
                "addressSpace": {"addressPrefixes": self.p["vnet_address_prefixes"]},
                "subnets": [
                    {
                        "name": self.names["subnet"],
                        "properties": {"addressPrefix": self.p["subnet_address_prefix"]},
                    }
                ],
            },
        }

    def nsg_body(self):
        def rule(name, priority, port, sources):
            key, value = (
                ("sourceAddressPrefix", sources[0])
                if len(sources) == 1
                else ("sourceAddressPrefixes", sources)
            )
            return {
                "name": name,
                "properties": {
                    "protocol": "Tcp",
                    "access": "Allow",
                    "direction": "Inbound",
                    "priority": priority,
                    key: value,
                    "sourcePortRange": "*",
                    "destinationAddressPrefix": "*",
                    "destinationPortRange": str(port),
                },
            }

        private = self.p["vnet_address_prefixes"] + self.p["private_cidrs"]
        rules = [
            rule("ssh-from-admin-ranges", 100, 22, self.p["admin_cidrs"]),
            rule("https-from-internet", 110, 443, ["Internet"]),
            rule("http-from-internet", 120, 80, ["Internet"]),
            rule("mlflow-from-private-ranges", 130, self.p["mlflow_port"], private),
        ]
        return {**self.common(), "properties": {"securityRules": rules}}

    def ip_body(self):
        return {
            **self.common(),
            "sku": {"name": "Standard"},
            "properties": {
                "publicIPAllocationMethod": "Static",
                "publicIPAddressVersion": "IPv4",
                "dnsSettings": {"domainNameLabel": self.p["dns_label"]},
            },
        }

    def nic_body(self):
        net = "Microsoft.Network"
        return {
            **self.common(),
            "properties": {
                "ipConfigurations": [
                    {
                        "name": "ipconfig1",
                        "properties": {
                            "privateIPAllocationMethod": "Dynamic",
                            "subnet": {
                                "id": self.rid(net, "virtualNetworks", self.names["vnet"])
                                + f"/subnets/{self.names['subnet']}"
                            },
                            "publicIPAddress": {
                                "id": self.rid(net, "publicIPAddresses", self.names["ip"])
                            },
                        },
                    }
                ],
                "networkSecurityGroup": {
                    "id": self.rid(net, "networkSecurityGroups", self.names["nsg"])
                },
            },
        }

    def vm_body(self):
        user = self.p["admin_username"]
        return {
            **self.common(),
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "hardwareProfile": {"vmSize": self.p["vm_size"]},
                "storageProfile": {
                    "imageReference": self.p["image"],
                    "osDisk": {
                        "name": self.names["disk"],
                        "createOption": "FromImage",
                        "deleteOption": "Delete",
                        "diskSizeGB": self.p["os_disk_size_gb"],
                        "managedDisk": {"storageAccountType": self.p["os_disk_type"]},
                    },
                },
                "osProfile": {
                    "computerName": self.p["name"][:64],
                    "adminUsername": user,
                    "linuxConfiguration": {
                        "disablePasswordAuthentication": True,
                        "ssh": {
                            "publicKeys": [
                                {
                                    "path": f"/home/{user}/.ssh/authorized_keys",
                                    "keyData": self.p["ssh_public_key"].strip(),
                                }
                            ]
                        },
                    },
                },
                "networkProfile": {
                    "networkInterfaces": [
                        {
                            "id": self.rid(
                                "Microsoft.Network", "networkInterfaces", self.names["nic"]
                            ),
                            "properties": {"primary": True},
                        }
                    ]
                },
            },
        }

    def storage_body(self):
        return {
            **self.common(),
            "sku": {"name": "Standard_LRS"},
            "kind": "StorageV2",
            "properties": {
                "supportsHttpsTrafficOnly": True,
                "minimumTlsVersion": "TLS1_2",
                "allowBlobPublicAccess": False,
            },
        }

    def blob_protection_body(self):
        days = self.p["storage_soft_delete_days"]
        return {
            "properties": {
                "deleteRetentionPolicy": {"enabled": True, "days": days},
                "containerDeleteRetentionPolicy": {"enabled": True, "days": days},
                "isVersioningEnabled": True,
            }
        }

    # --- one resource: read, compare, write when needed --------------------------------------

    def ensure(self, label, get, begin, body):
        """Returns (current wire dict after the run, poller or None)."""
        current = get()
        if current is not None and not differs(body, current):
            return current, None
        verb = "create" if current is None else "update"
        self.actions.append(f"{verb} {label}")
        self.before[label] = current or {}
        self.after[label] = body
        if self.m.check_mode:
            return current or body, None
        return None, begin(body)

    def present(self):
        a, p, net = self.arm, self.p, self.arm.network
        rg_body = {"location": p["location"], "tags": p["tags"]}
        rg = self.ensure(
            f"resource group {self.rg}",
            lambda: get_or_none(a.resource.resource_groups.get, self.rg),
            lambda body: a.resource.resource_groups.create_or_update(self.rg, body),
            rg_body,
        )[0]
        n = self.names
        # Independent of each other: started together, waited for together.
        stage = {
            "vnet": (
                f"virtual network {n['vnet']}",
                lambda: get_or_none(net.virtual_networks.get, self.rg, n["vnet"]),
                lambda b: net.virtual_networks.begin_create_or_update(self.rg, n["vnet"], b),
                self.vnet_body(),
            ),
            "nsg": (
                f"network security group {n['nsg']}",
                lambda: get_or_none(net.network_security_groups.get, self.rg, n["nsg"]),
                lambda b: net.network_security_groups.begin_create_or_update(self.rg, n["nsg"], b),
                self.nsg_body(),
            ),
            "ip": (
                f"public IP {n['ip']}",
                lambda: get_or_none(net.public_ip_addresses.get, self.rg, n["ip"]),
                lambda b: net.public_ip_addresses.begin_create_or_update(self.rg, n["ip"], b),
                self.ip_body(),
            ),
        }
        account = p["storage_account"]
        if account:
            stage["storage"] = (
                f"storage account {account}",
                lambda: get_or_none(a.storage.storage_accounts.get_properties, self.rg, account),
                lambda b: a.storage.storage_accounts.begin_create(self.rg, account, b),
                self.storage_body(),
            )
        results = self.run_together(stage)
        if account:
            container = p["storage_container"]
            results["container"] = self.ensure(
                f"blob container {account}/{container}",
                lambda: get_or_none(a.storage.blob_containers.get, self.rg, account, container),
                lambda b: a.storage.blob_containers.create(self.rg, account, container, b),
                {"properties": {"publicAccess": "None"}},
            )[0]
            # MLflow's backups do not copy Blob artifacts: deleted or overwritten blobs and
            # deleted containers stay recoverable for the retention period instead.
            results["blob_protection"] = self.ensure(
                f"blob soft delete and versioning of {account}",
                lambda: get_or_none(
                    a.storage.blob_services.get_service_properties, self.rg, account
                ),
                lambda b: a.storage.blob_services.set_service_properties(self.rg, account, b),
                self.blob_protection_body(),
            )[0]
        results.update(
            self.run_together(
                {
                    "nic": (
                        f"network interface {n['nic']}",
                        lambda: get_or_none(net.network_interfaces.get, self.rg, n["nic"]),
                        lambda b: net.network_interfaces.begin_create_or_update(
                            self.rg, n["nic"], b
                        ),
                        self.nic_body(),
                    ),
                }
            )
        )
        cmp = a.compute
        results.update(
            self.run_together(
                {
                    "vm": (
                        f"virtual machine {n['vm']}",
                        lambda: get_or_none(cmp.virtual_machines.get, self.rg, n["vm"]),
                        lambda b: cmp.virtual_machines.begin_create_or_update(self.rg, n["vm"], b),
                        self.vm_body(),
                    ),
                }
            )
        )
        ip, nic, vm = results["ip"], results["nic"], results["vm"]
        del rg
        return {
            "fqdn": ip.get("properties", {}).get("dnsSettings", {}).get("fqdn")
            or f"{p['dns_label']}.{p['location']}.cloudapp.azure.com",
            "public_ip": ip.get("properties", {}).get("ipAddress", ""),
            "private_ip": nic.get("properties", {})
            .get("ipConfigurations", [{}])[0]
            .get("properties", {})
            .get("privateIPAddress", ""),
            "vm_id": vm.get("id", self.rid("Microsoft.Compute", "virtualMachines", n["vm"])),
            "principal_id": vm.get("identity", {}).get("principalId", ""),
            "storage_account": account,
        }

    def run_together(self, stage):
        """Read every resource, start every needed write, then wait for all of them."""
        results, pollers = {}, {}
        with ThreadPoolExecutor(max_workers=max(1, len(stage))) as pool:
            reads = {key: pool.submit(self.ensure, *spec) for key, spec in stage.items()}
            for key, future in reads.items():
                results[key], pollers[key] = future.result()
            waits = {k: pool.submit(poller.result) for k, poller in pollers.items() if poller}
            for key, future in waits.items():
                results[key] = wire(future.result()) or {}
        return results

    def absent(self):
        a, n = self.arm, self.names
        net = a.network
        # Dependency order: what references a resource goes before it.
        steps = [
            ("virtual machine", a.compute.virtual_machines, n["vm"]),
            ("managed disk", a.compute.disks, n["disk"]),
            ("network interface", net.network_interfaces, n["nic"]),
            ("public IP", net.public_ip_addresses, n["ip"]),
            ("network security group", net.network_security_groups, n["nsg"]),
            ("virtual network", net.virtual_networks, n["vnet"]),
        ]
        if get_or_none(a.resource.resource_groups.get, self.rg) is None:
            return {}
        for label, operations, name in steps:
            if get_or_none(operations.get, self.rg, name) is None:
                continue
            self.actions.append(f"delete {label} {name}")
            if not self.m.check_mode:
                operations.begin_delete(self.rg, name).result()
        if self.p["delete_resource_group"]:
            self.actions.append(f"delete resource group {self.rg}")
            if not self.m.check_mode:
                a.resource.resource_groups.begin_delete(self.rg).result()
        return {}


def main():
    spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
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
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if IMPORT_ERROR:
        module.fail_json(
            msg="the Azure SDK is missing on the controller (pip install azure-identity"
            " azure-mgmt-compute azure-mgmt-network azure-mgmt-resource azure-mgmt-storage)",
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
    }
    stack = None
    try:
        arm = Arm(p["subscription_id"], p["cloud"], p["resource_manager_endpoint"])
        stack = Stack(module, arm)
        outputs = stack.present() if p["state"] == "present" else stack.absent()
    except Exception as exc:  # every SDK failure becomes one line, never a traceback
        module.fail_json(
            msg=f"Azure: {explain(exc, context)}", actions=stack.actions if stack else []
        )
    result = dict(changed=bool(stack.actions), actions=stack.actions, **outputs)
    if module._diff and stack.actions:
        result["diff"] = {"before": stack.before, "after": stack.after}
    module.exit_json(**result)


if __name__ == "__main__":
    os.environ.setdefault("AZURE_CORE_ONLY_SHOW_ERRORS", "1")
    main()
