# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Role azure_vm: what to create, as a graph: each resource's REST body and what it needs first.

Pure (no SDK): the module (plugins/modules/azure_vm_stack.py) binds each resource `kind` to its
SDK calls (azure_vm_arm.OPERATIONS) and walks the graph (azure_vm_reconcile.py). Bodies are
REST-shaped (camelCase), as the SDKs send dicts to the wire. Two layouts:

- `single` (the default, unchanged since 0.1): one VM with its own public IP and DNS label.
- `load_balanced`: N VMs across availability zones without public IPs, behind a Standard Load
  Balancer (a zone-redundant public IP with the DNS label, an HTTPS probe on the hosts'
  drain-aware /lb-health, rules for 443 and 80, one inbound NAT rule per VM for SSH), outbound
  through a NAT gateway, one user-assigned identity for every VM with Storage Blob Data
  Contributor on the storage account.

Either layout can add an Azure Database for PostgreSQL flexible server with private access
only (a delegated subnet, a private DNS zone linked to the virtual network, TLS required).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

NET = "Microsoft.Network"
COMPUTE = "Microsoft.Compute"
STORAGE = "Microsoft.Storage"
PG = "Microsoft.DBforPostgreSQL"
MSI = "Microsoft.ManagedIdentity"
# Built-in role "Storage Blob Data Contributor": read, write and delete blobs, no keys.
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
# Built-in role "Key Vault Secrets Officer": read and write a vault's secrets (RBAC mode).
SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
# The names Azure lets a flexible server's private DNS zone have.
PG_ZONE_SUFFIX = ".private.postgres.database.azure.com"
# Azure keeps this many of a flexible server's max_connections for itself (replication,
# monitoring): what is left is MLflow's (role mlflow_server's pool-size check).
PG_RESERVED_CONNECTIONS = 15
UNKNOWN = "(known after creation)"


@dataclass
class Resource:
    key: str  # unique in the plan: "vnet", "nic-2"
    kind: str  # the SDK calls that serve it (azure_vm_arm.OPERATIONS)
    name: str  # the ARM name; a child's is "parent/child"
    label: str  # for people: "virtual network mlflow-vnet"
    body: dict | Callable[[dict], dict] | None  # None: read only; a callable gets the results
    deps: tuple = ()
    data: bool = False  # holds data: destroy removes it only when asked to
    deletable: bool = True  # destroy deletes it (children go with their parent)
    lro: bool = True  # a long-running operation (its write polls)
    remove: bool = False  # present deletes it (a VM above azure_vm_count), if it exists
    after: tuple = ()  # written only after these, without referencing them
    refs: tuple | None = None  # what it references, when more than deps (destroy's order)

    @property
    def references(self) -> tuple:
        return self.deps if self.refs is None else self.refs

    write_only: tuple = field(default_factory=tuple)  # body paths ARM never returns

    def body_for(self, results: dict) -> dict | None:
        return self.body(results) if callable(self.body) else self.body


def names(p: dict) -> dict:
    n = p["name"]
    out = {
        "vnet": f"{n}-vnet",
        "subnet": f"{n}-subnet",
        "nsg": f"{n}-nsg",
        "ip": f"{n}-ip",
        "nic": f"{n}-nic",
        "vm": f"{n}-vm",
        "disk": f"{n}-osdisk",
        "lb": f"{n}-lb",
        "nat_ip": f"{n}-nat-ip",
        "natgw": f"{n}-natgw",
        "identity": f"{n}-identity",
        "pg_subnet": f"{n}-postgres-subnet",
        "pg_link": f"{n}-vnet-link",
    }
    if p.get("postgres_server"):
        out["pg_zone"] = p["postgres_server"] + PG_ZONE_SUFFIX
    return out


def vm_names(p: dict) -> list[dict]:
    """Each VM of the load-balanced layout: its names, zone and SSH port on the balancer."""
    zones = list(p.get("zones") or [])
    return [
        {
            "index": i,
            "host": f"{p['name']}-{i}",
            "nic": f"{p['name']}-{i}-nic",
            "vm": f"{p['name']}-{i}-vm",
            "disk": f"{p['name']}-{i}-osdisk",
            "zone": zones[(i - 1) % len(zones)] if zones else "",
            "ssh_port": int(p["ssh_nat_port_base"]) + i,
            "nat_rule": f"ssh-{i}",
        }
        for i in range(1, int(p["vm_count"]) + 1)
    ]


class Ids:
    def __init__(self, subscription: str, resource_group: str):
        self.sub, self.rg = subscription, resource_group

    def group(self) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{self.rg}"

    def __call__(self, provider: str, kind: str, name: str) -> str:
        return f"{self.group()}/providers/{provider}/{kind}/{name}"


def role_assignment_name(scope: str, principal_hint: str, role: str = BLOB_CONTRIBUTOR) -> str:
    """Deterministic: ARM refuses a second assignment of one role to one principal on one
    scope under another name, so the name must be the same on every run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope.lower()}|{role}|{principal_hint}"))


def pg_tier(sku: str) -> str:
    """The tier a flexible server's SKU belongs to (Standard_B1ms: Burstable...)."""
    size = sku.split("_", 1)[1] if "_" in sku else sku
    return {"B": "Burstable", "D": "GeneralPurpose", "E": "MemoryOptimized"}.get(size[:1], "")


# --- the plan ------------------------------------------------------------------------------------


def plan(p: dict, subscription: str, surplus: tuple = ()) -> list[Resource]:
    """Every resource of the stack, each after what it references (a topological order).
    `surplus`: indexes of load-balanced VMs above the count, found by the module: removed."""
    ids, n = Ids(subscription, p["resource_group"]), names(p)
    common = {"location": p["location"], "tags": p["tags"]}
    balanced = p["layout"] == "load_balanced"
    out = [
        Resource(
            "rg",
            "resource_group",
            p["resource_group"],
            f"resource group {p['resource_group']}",
            common,
            lro=False,
            deletable=False,
        )
    ]
    if balanced:
        out += [
            Resource(
                "nat_ip",
                "public_ip",
                n["nat_ip"],
                f"public IP {n['nat_ip']}",
                _public_ip(common, None, []),
                ("rg",),
            ),
            Resource(
                "natgw",
                "nat_gateway",
                n["natgw"],
                f"NAT gateway {n['natgw']}",
                {
                    **common,
                    "sku": {"name": "Standard"},
                    "properties": {
                        "idleTimeoutInMinutes": 4,
                        "publicIpAddresses": [{"id": ids(NET, "publicIPAddresses", n["nat_ip"])}],
                    },
                },
                ("nat_ip",),
            ),
        ]
    out.append(
        Resource(
            "vnet",
            "virtual_network",
            n["vnet"],
            f"virtual network {n['vnet']}",
            _vnet(p, common, ids, n, balanced),
            ("natgw",) if balanced else ("rg",),
        )
    )
    out.append(
        Resource(
            "nsg",
            "security_group",
            n["nsg"],
            f"network security group {n['nsg']}",
            _nsg(p, common),
            ("rg",),
        )
    )
    zones = list(p.get("zones") or [])
    out.append(
        Resource(
            "ip",
            "public_ip",
            n["ip"],
            f"public IP {n['ip']}",
            _public_ip(common, p["dns_label"], zones if balanced else []),
            ("rg",),
        )
    )
    out += _storage(p, common, ids)
    out += keyvault(p, common, ids)
    out += _postgres(p, common, ids, n)
    if balanced:
        out += _surplus(p, surplus)
        out += _balanced(p, common, ids, n, surplus)
    else:
        out += _single(p, common, ids, n)
    return out


def _public_ip(common, dns_label, zones):
    body = {
        **common,
        "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"},
    }
    if dns_label:
        body["properties"]["dnsSettings"] = {"domainNameLabel": dns_label}
    if zones:
        body["zones"] = list(zones)
    return body


def _vnet(p, common, ids, n, balanced):
    subnet = {"name": n["subnet"], "properties": {"addressPrefix": p["subnet_address_prefix"]}}
    if balanced:
        # Outbound (packages, PyPI, Blob, ACME) leaves through the NAT gateway: the VMs have no
        # public IP, and the balancer's rules give them no outbound SNAT.
        subnet["properties"]["natGateway"] = {"id": ids(NET, "natGateways", n["natgw"])}
    subnets = [subnet]
    if p.get("postgres_server"):
        subnets.append(
            {
                "name": n["pg_subnet"],
                "properties": {
                    "addressPrefix": p["postgres_subnet_prefix"],
                    "delegations": [
                        {
                            "name": "postgres",
                            "properties": {"serviceName": f"{PG}/flexibleServers"},
                        }
                    ],
                },
            }
        )
    return {
        **common,
        "properties": {
            "addressSpace": {"addressPrefixes": p["vnet_address_prefixes"]},
            "subnets": subnets,
        },
    }


def _nsg(p, common):
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

    private = p["vnet_address_prefixes"] + p["private_cidrs"]
    # Behind the balancer too: its inbound NAT rules keep the client's address and translate
    # to port 22, so this one rule limits SSH to the admin ranges in both layouts (the
    # balancer's probe is allowed by Azure's default rule AllowAzureLoadBalancerInBound).
    rules = [
        rule("ssh-from-admin-ranges", 100, 22, p["admin_cidrs"]),
        rule("https-from-internet", 110, 443, ["Internet"]),
        rule("http-from-internet", 120, 80, ["Internet"]),
        rule("mlflow-from-private-ranges", 130, p["mlflow_port"], private),
    ]
    return {**common, "properties": {"securityRules": rules}}


def keyvault(p, common, ids):
    """The team's secret store (README: Deploying as a team): RBAC mode, soft delete and purge
    protection on, and Key Vault Secrets Officer for each principal listed. Kept on destroy
    unless the data goes too (and then only soft-deleted: purge protection)."""
    name = p.get("keyvault_name") or ""
    if not name:
        return []
    scope = ids("Microsoft.KeyVault", "vaults", name)
    out = [
        Resource(
            "keyvault",
            "key_vault",
            name,
            f"key vault {name}",
            {
                **common,
                "properties": {
                    "tenantId": p.get("tenant_id") or UNKNOWN,
                    "sku": {"family": "A", "name": "standard"},
                    "enableRbacAuthorization": True,
                    "enableSoftDelete": True,
                    "softDeleteRetentionInDays": int(p.get("keyvault_retention_days") or 90),
                    "enablePurgeProtection": True,
                },
            },
            ("rg",),
            data=True,
        )
    ]
    role = f"/subscriptions/{ids.sub}/providers/Microsoft.Authorization/roleDefinitions"
    for i, officer in enumerate(p.get("keyvault_secret_officers") or [], 1):
        principal = officer["principal_id"]
        out.append(
            Resource(
                f"keyvault_officer-{i}",
                "role_assignment",
                f"{scope}|{role_assignment_name(scope, principal, SECRETS_OFFICER)}",
                f"Key Vault Secrets Officer on {name} for {principal}",
                {
                    "properties": {
                        "roleDefinitionId": f"{role}/{SECRETS_OFFICER}",
                        "principalId": principal,
                        "principalType": officer.get("principal_type") or "User",
                    }
                },
                ("keyvault",),
                lro=False,
                write_only=("properties.principalType",),
            )
        )
    return out


def _storage(p, common, ids):
    account = p["storage_account"]
    if not account:
        return []
    days = p["storage_soft_delete_days"]
    return [
        Resource(
            "storage",
            "storage_account",
            account,
            f"storage account {account}",
            {
                **common,
                "sku": {"name": "Standard_LRS"},
                "kind": "StorageV2",
                "properties": {
                    "supportsHttpsTrafficOnly": True,
                    "minimumTlsVersion": "TLS1_2",
                    "allowBlobPublicAccess": False,
                },
            },
            ("rg",),
            data=True,
        ),
        Resource(
            "container",
            "blob_container",
            f"{account}/{p['storage_container']}",
            f"blob container {account}/{p['storage_container']}",
            {"properties": {"publicAccess": "None"}},
            ("storage",),
            deletable=False,
            lro=False,
        ),
        # MLflow's backups do not copy Blob artifacts: deleted or overwritten blobs and deleted
        # containers stay recoverable for the retention period instead.
        Resource(
            "blob_protection",
            "blob_service",
            account,
            f"blob soft delete and versioning of {account}",
            {
                "properties": {
                    "deleteRetentionPolicy": {"enabled": True, "days": days},
                    "containerDeleteRetentionPolicy": {"enabled": True, "days": days},
                    "isVersioningEnabled": True,
                }
            },
            ("storage",),
            deletable=False,
            lro=False,
        ),
    ]


def _postgres(p, common, ids, n):
    server = p.get("postgres_server")
    if not server:
        return []
    zone = n["pg_zone"]
    ha = p["postgres_high_availability"]
    body = {
        **common,
        "sku": {"name": p["postgres_sku"], "tier": pg_tier(p["postgres_sku"])},
        "properties": {
            "version": str(p["postgres_version"]),
            "administratorLogin": p["postgres_admin_user"],
            "administratorLoginPassword": p["postgres_admin_password"],
            "storage": {"storageSizeGB": int(p["postgres_storage_gb"]), "autoGrow": "Enabled"},
            "backup": {
                "backupRetentionDays": int(p["postgres_backup_retention_days"]),
                "geoRedundantBackup": "Disabled",
            },
            # Private access only: an address in the delegated subnet, a name in the private
            # zone, nothing on the Internet.
            "network": {
                "delegatedSubnetResourceId": ids(NET, "virtualNetworks", n["vnet"])
                + f"/subnets/{n['pg_subnet']}",
                "privateDnsZoneArmResourceId": ids(NET, "privateDnsZones", zone),
                "publicNetworkAccess": "Disabled",
            },
            "highAvailability": {"mode": ha},
        },
    }
    zones = list(p.get("zones") or [])
    if zones:
        body["properties"]["availabilityZone"] = zones[0]
        if ha == "ZoneRedundant" and len(zones) > 1:
            body["properties"]["highAvailability"]["standbyAvailabilityZone"] = zones[1]
    return [
        Resource(
            "pg_zone",
            "private_zone",
            zone,
            f"private DNS zone {zone}",
            {"location": "global", "tags": p["tags"]},
            ("rg",),
        ),
        Resource(
            "pg_link",
            "private_zone_link",
            f"{zone}/{n['pg_link']}",
            f"link of {zone} to {n['vnet']}",
            {
                "location": "global",
                "tags": p["tags"],
                "properties": {
                    "virtualNetwork": {"id": ids(NET, "virtualNetworks", n["vnet"])},
                    "registrationEnabled": False,
                },
            },
            ("pg_zone", "vnet"),
        ),
        Resource(
            "pg",
            "postgres_server",
            server,
            f"PostgreSQL flexible server {server}",
            body,
            ("vnet", "pg_link"),
            data=True,
            write_only=("properties.administratorLoginPassword",),
        ),
        # On by default on Azure: set so that it stays on (MLflow connects with sslmode=require).
        Resource(
            "pg_tls",
            "postgres_configuration",
            f"{server}/require_secure_transport",
            f"TLS required by {server}",
            {"properties": {"value": "on", "source": "user-override"}},
            ("pg",),
            deletable=False,
            write_only=("properties.source",),
        ),
        Resource(
            "pg_max_connections",
            "postgres_configuration",
            f"{server}/max_connections",
            f"connection limit of {server}",
            None,
            ("pg",),
            deletable=False,
        ),
    ]


def _nic_body(common, ids, n, **attach):
    """A NIC in the VMs' subnet behind the NSG; `attach`: what else its IP configuration holds
    (the single VM's public IP; a balanced VM's backend pool and NAT rule)."""
    return {
        **common,
        "properties": {
            "ipConfigurations": [
                {
                    "name": "ipconfig1",
                    "properties": {
                        "privateIPAllocationMethod": "Dynamic",
                        "subnet": {
                            "id": ids(NET, "virtualNetworks", n["vnet"]) + f"/subnets/{n['subnet']}"
                        },
                        **attach,
                    },
                }
            ],
            "networkSecurityGroup": {"id": ids(NET, "networkSecurityGroups", n["nsg"])},
        },
    }


def _single(p, common, ids, n):
    nic = _nic_body(common, ids, n, publicIPAddress={"id": ids(NET, "publicIPAddresses", n["ip"])})
    vm = _vm_body(p, common, ids, n["nic"], n["disk"], p["name"][:64])
    vm["identity"] = {"type": "SystemAssigned"}
    return [
        Resource(
            "nic",
            "network_interface",
            n["nic"],
            f"network interface {n['nic']}",
            nic,
            ("vnet", "nsg", "ip"),
        ),
        Resource("vm", "virtual_machine", n["vm"], f"virtual machine {n['vm']}", vm, ("nic",)),
    ]


def _vm_body(p, common, ids, nic, disk, computer_name):
    user = p["admin_username"]
    return {
        **common,
        "properties": {
            "hardwareProfile": {"vmSize": p["vm_size"]},
            "storageProfile": {
                "imageReference": p["image"],
                "osDisk": {
                    "name": disk,
                    "createOption": "FromImage",
                    "deleteOption": "Delete",
                    "diskSizeGB": p["os_disk_size_gb"],
                    "managedDisk": {"storageAccountType": p["os_disk_type"]},
                },
            },
            "osProfile": {
                "computerName": computer_name,
                "adminUsername": user,
                "linuxConfiguration": {
                    "disablePasswordAuthentication": True,
                    "ssh": {
                        "publicKeys": [
                            {
                                "path": f"/home/{user}/.ssh/authorized_keys",
                                "keyData": p["ssh_public_key"].strip(),
                            }
                        ]
                    },
                },
            },
            "networkProfile": {
                "networkInterfaces": [
                    {"id": ids(NET, "networkInterfaces", nic), "properties": {"primary": True}}
                ]
            },
        },
    }


def _surplus(p, surplus):
    """VMs a lower azure_vm_count leaves over: each VM, then its NIC (which holds its NAT rule
    and its place in the pool: the balancer changes after them). Deleting runs against the
    references (`deps` order the deletes; `refs` say what each references, for destroy)."""
    out = []
    for i in surplus:
        vm, nic = f"{p['name']}-{i}-vm", f"{p['name']}-{i}-nic"
        out += [
            Resource(
                f"surplus-vm-{i}",
                "virtual_machine",
                vm,
                f"virtual machine {vm}",
                None,
                ("rg",),
                remove=True,
                refs=(f"surplus-nic-{i}", "identity"),  # a VM references its NIC
            ),
            Resource(
                f"surplus-nic-{i}",
                "network_interface",
                nic,
                f"network interface {nic}",
                None,
                (f"surplus-vm-{i}",),
                remove=True,
                refs=("lb", "vnet", "nsg"),
            ),
        ]
    return out


def _balanced(p, common, ids, n, surplus=()):
    lb_id = ids(NET, "loadBalancers", n["lb"])
    frontend = {"id": f"{lb_id}/frontendIPConfigurations/frontend"}
    pool = {"id": f"{lb_id}/backendAddressPools/vms"}
    probe = {"id": f"{lb_id}/probes/lb-health"}
    vms = vm_names(p)

    def rule(name, port):
        return {
            "name": name,
            "properties": {
                "frontendIPConfiguration": frontend,
                "backendAddressPool": pool,
                "probe": probe,
                "protocol": "Tcp",
                "frontendPort": port,
                "backendPort": port,
                "idleTimeoutInMinutes": 4,
                "enableTcpReset": True,
                "loadDistribution": "Default",
                # Outbound goes through the NAT gateway.
                "disableOutboundSnat": True,
            },
        }

    lb = {
        **common,
        "sku": {"name": "Standard", "tier": "Regional"},
        "properties": {
            "frontendIPConfigurations": [
                {
                    "name": "frontend",
                    "properties": {
                        "publicIPAddress": {"id": ids(NET, "publicIPAddresses", n["ip"])}
                    },
                }
            ],
            "backendAddressPools": [{"name": "vms"}],
            # nginx's drain-aware endpoint (role nginx_tls): 503 while a host is out of
            # rotation or no MLflow instance answers. Over HTTPS, on nginx's default server.
            "probes": [
                {
                    "name": "lb-health",
                    "properties": {
                        "protocol": "Https",
                        "port": 443,
                        "requestPath": p["probe_path"],
                        "intervalInSeconds": int(p["probe_interval"]),
                        "probeThreshold": int(p["probe_threshold"]),
                    },
                }
            ],
            # Port 80 too: the ACME CA's HTTP-01 checks, and the redirect to HTTPS.
            "loadBalancingRules": [rule("https", 443), rule("http", 80)],
            # Ansible's SSH: one frontend port per VM, to its port 22.
            "inboundNatRules": [
                {
                    "name": vm["nat_rule"],
                    "properties": {
                        "frontendIPConfiguration": frontend,
                        "protocol": "Tcp",
                        "frontendPort": vm["ssh_port"],
                        "backendPort": 22,
                        "idleTimeoutInMinutes": 4,
                        "enableTcpReset": True,
                    },
                }
                for vm in vms
            ],
        },
    }
    identity_id = ids(MSI, "userAssignedIdentities", n["identity"])
    out = [
        Resource(
            "lb",
            "load_balancer",
            n["lb"],
            f"load balancer {n['lb']}",
            lb,
            ("ip",),
            # Its NAT rules and pool change once the surplus NICs no longer use them.
            after=tuple(f"surplus-nic-{i}" for i in surplus),
        ),
        Resource(
            "identity",
            "identity",
            n["identity"],
            f"managed identity {n['identity']}",
            common,
            ("rg",),
            lro=False,
        ),
    ]
    if p["storage_account"]:
        scope = ids(STORAGE, "storageAccounts", p["storage_account"])

        def assignment(results):
            principal = (results.get("identity") or {}).get("properties", {}).get("principalId")
            role = f"/subscriptions/{ids.sub}/providers/Microsoft.Authorization/roleDefinitions"
            return {
                "properties": {
                    "roleDefinitionId": f"{role}/{BLOB_CONTRIBUTOR}",
                    "principalId": principal or UNKNOWN,
                    "principalType": "ServicePrincipal",
                }
            }

        out.append(
            Resource(
                "blob_role",
                "role_assignment",
                f"{scope}|{role_assignment_name(scope, identity_id)}",
                f"Storage Blob Data Contributor on {p['storage_account']} for {n['identity']}",
                assignment,
                ("identity", "storage"),
                lro=False,
                write_only=("properties.principalType",),
            )
        )
    for vm in vms:
        i = vm["index"]
        nic = _nic_body(
            common,
            ids,
            n,
            loadBalancerBackendAddressPools=[pool],
            loadBalancerInboundNatRules=[{"id": f"{lb_id}/inboundNatRules/{vm['nat_rule']}"}],
        )
        body = _vm_body(p, common, ids, vm["nic"], vm["disk"], vm["host"][:64])
        body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {identity_id: {}}}
        if vm["zone"]:
            body["zones"] = [vm["zone"]]
        out += [
            Resource(
                f"nic-{i}",
                "network_interface",
                vm["nic"],
                f"network interface {vm['nic']}",
                nic,
                ("vnet", "nsg", "lb"),
            ),
            Resource(
                f"vm-{i}",
                "virtual_machine",
                vm["vm"],
                f"virtual machine {vm['vm']}",
                body,
                (f"nic-{i}", "identity"),
            ),
        ]
    return out


# --- reading the graph ---------------------------------------------------------------------------


def kept(resources: list[Resource], destroy_data: bool) -> set:
    """What destroy leaves: data (unless asked), and whatever a kept resource references (a
    kept database keeps its subnet, its virtual network and that network's NAT gateway)."""
    by_key = {r.key: r for r in resources}
    keep = {r.key for r in resources if r.data and not destroy_data}
    todo = list(keep)
    while todo:
        for dep in by_key[todo.pop()].references:
            if dep not in keep:
                keep.add(dep)
                todo.append(dep)
    # Not deleted by themselves (the group; children that go with their parent), and they
    # keep nothing alive.
    return keep | {r.key for r in resources if not r.deletable}


def critical_path(resources: list[Resource], seconds: dict) -> float:
    """The longest chain of `seconds[key]` through the dependencies: the least wall time any
    order of the writes can take."""
    done: dict = {}
    for r in resources:  # topological order
        before = (*r.deps, *r.after)
        done[r.key] = seconds.get(r.key, 0.0) + max(
            (done[d] for d in before if d in done), default=0.0
        )
    return max(done.values(), default=0.0)
