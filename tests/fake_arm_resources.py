"""The fake ARM's resource types beyond one VM: a load balancer, a NAT gateway, a user-assigned
identity and its role assignment, a private DNS zone and its network link, and an Azure Database
for PostgreSQL flexible server with its configurations (tests/fake_arm.py mixes these in).

Each answers as its real resource provider does for the SDK version we pin: network resources
201 + Azure-AsyncOperation with the body; the PostgreSQL server and its configurations 202 +
Azure-AsyncOperation without a body (the SDK reads the resource at the end); the identity and
the role assignment synchronously (200/201). And each refuses what ARM refuses: references to
what does not exist, overlapping subnets, high availability on the Burstable tier, a taken
server name, a role assignment for a principal ARM cannot see yet (unless principalType says
what it is), a second assignment of one role to one principal on one scope.
"""

import ipaddress
import json
import re
import time
import uuid

TENANT = "72f988bf-0000-4000-8000-000000000001"
# max_connections of a flexible server by SKU (Azure's defaults).
PG_MAX_CONNECTIONS = {
    "Standard_B1ms": 50,
    "Standard_B2s": 429,
    "Standard_B2ms": 859,
    "Standard_D2ds_v5": 859,
    "Standard_D4ds_v5": 1718,
    "Standard_E2ds_v5": 1718,
}
PG_VERSIONS = {"13", "14", "15", "16", "17"}
PG_RESERVED_LOGINS = {
    "azure_superuser",
    "azure_pg_admin",
    "admin",
    "administrator",
    "root",
    "guest",
    "public",
}
# How long after its creation a new identity's principal is invisible to role assignments
# that do not say principalType (Entra ID replication).
PRINCIPAL_DELAY = 30.0


def _copy(body):
    return json.loads(json.dumps(body))


class MoreResources:
    """Mixed into FakeArm: uses its `resources`, `_require`, `_lookup` and ArmError."""

    sync_kinds: frozenset = frozenset(
        {
            "microsoft.managedidentity/userassignedidentities",
            "microsoft.authorization/roleassignments",
        }
    )
    accepted_kinds: frozenset = frozenset(
        {
            "microsoft.dbforpostgresql/flexibleservers",
            "microsoft.dbforpostgresql/flexibleservers/configurations",
        }
    )

    @property
    def created(self):
        if not hasattr(self, "_created_at"):
            self._created_at = {}
        return self._created_at

    @staticmethod
    def type_of(kind, ns, rtype):
        if kind == "microsoft.authorization/roleassignments":
            return "Microsoft.Authorization/roleAssignments"
        if kind.count("/") == 2:
            return f"{ns}/{rtype}/{kind.rsplit('/', 1)[1]}"
        return f"{ns}/{rtype}"

    @property
    def computed_gets(self):
        return {
            "microsoft.dbforpostgresql/flexibleservers/configurations": self._pg_configuration_get
        }

    def more_handlers(self):
        return {
            "microsoft.network/natgateways": self._natgw,
            "microsoft.network/loadbalancers": self._lb,
            "microsoft.network/privatednszones": self._zone,
            "microsoft.network/privatednszones/virtualnetworklinks": self._zone_link,
            "microsoft.managedidentity/userassignedidentities": self._identity,
            "microsoft.authorization/roleassignments": self._role_assignment,
            "microsoft.dbforpostgresql/flexibleservers": self._pg,
            "microsoft.dbforpostgresql/flexibleservers/configurations": self._pg_configuration,
            "microsoft.keyvault/vaults": self._vault,
        }

    # --- the subscription, the directory --------------------------------------------------------

    def subscription(self, sub):
        return {
            "id": f"/subscriptions/{sub}",
            "subscriptionId": sub,
            "tenantId": TENANT,
            "displayName": "fake subscription",
            "state": "Enabled",
        }

    @property
    def principals(self):
        """Users, groups and service principals of the directory: {object id: type}."""
        if not hasattr(self, "_principals"):
            self._principals = {}
        return self._principals

    # --- Key Vault ------------------------------------------------------------------------------

    def _vault(self, rid, name, body):
        from fake_arm import ArmError

        if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", name) or "--" in name:
            raise ArmError(
                400,
                "VaultNameNotValid",
                f"The vault name '{name}' is invalid. A vault's name must be between 3-24"
                " alphanumeric characters. The name must begin with a letter, end with a letter"
                " or digit, and not contain consecutive hyphens.",
            )
        props = self._require(body, "properties", "key vault")
        self._require(body, "properties.tenantId", "key vault")
        sku = self._require(body, "properties.sku", "key vault")
        if sku.get("family") != "A" or sku.get("name") not in ("standard", "premium"):
            raise ArmError(
                400, "BadRequest", "The SKU is invalid: family A, name standard or premium."
            )
        if props["tenantId"] != TENANT:
            raise ArmError(
                400, "BadRequest", f"The tenant '{props['tenantId']}' is not the subscription's."
            )
        previous = self.resources.get(rid.lower())
        old = (previous or {}).get("properties", {})
        if old.get("enablePurgeProtection") and not props.get("enablePurgeProtection"):
            raise ArmError(
                400,
                "BadRequest",
                'The property "enablePurgeProtection" cannot be set to false. Enabling the'
                " 'purge protection' for a key vault is an irreversible action.",
            )
        days = props.get("softDeleteRetentionInDays", 90)
        if not 7 <= int(days) <= 90:
            raise ArmError(400, "BadRequest", "softDeleteRetentionInDays must be 7 to 90.")
        if previous is not None and old.get("softDeleteRetentionInDays") != days:
            raise ArmError(
                400,
                "BadRequest",
                'The property "softDeleteRetentionInDays" has been set already and it can\'t be modified.',
            )
        stored = _copy(body)
        stored["properties"]["vaultUri"] = f"https://{name}.vault.azure.net/"
        stored["properties"].setdefault("enableSoftDelete", True)
        return stored

    # --- network -------------------------------------------------------------------------------

    def _natgw(self, rid, name, body):
        from fake_arm import ArmError

        if self._require(body, "sku.name", "NAT gateway") != "Standard":
            raise ArmError(400, "InvalidNatGatewaySku", "A NAT gateway's SKU must be Standard.")
        for ip in body.get("properties", {}).get("publicIpAddresses", []):
            address = self._lookup(ip.get("id"), "NAT gateway")
            if address.get("sku", {}).get("name") != "Standard":
                raise ArmError(
                    400,
                    "NatGatewayCannotUseBasicPublicIp",
                    "A NAT gateway needs Standard public IPs.",
                )
        return _copy(body)

    def _lb(self, rid, name, body):
        from fake_arm import ArmError

        if self._require(body, "sku.name", "load balancer") != "Standard":
            raise ArmError(400, "InvalidLoadBalancerSku", "Only Standard is served here.")
        stored = _copy(body)
        props = stored["properties"]
        children = {}
        for section in (
            "frontendIPConfigurations",
            "backendAddressPools",
            "probes",
            "loadBalancingRules",
            "inboundNatRules",
        ):
            for item in props.get(section, []):
                item["id"] = f"{rid}/{section}/{item['name']}"
                item.setdefault("properties", {})["provisioningState"] = "Succeeded"
                children[item["id"].lower()] = item
        for frontend in props.get("frontendIPConfigurations", []):
            ip = self._lookup(
                frontend["properties"].get("publicIPAddress", {}).get("id"), "load balancer"
            )
            if ip.get("sku", {}).get("name") != "Standard":
                raise ArmError(
                    400,
                    "LoadBalancerReferencesBasicPublicIp",
                    "A Standard load balancer needs a Standard public IP.",
                )
        for probe in props.get("probes", []):
            p = probe["properties"]
            if p.get("protocol") in ("Http", "Https") and not str(
                p.get("requestPath", "")
            ).startswith("/"):
                raise ArmError(400, "InvalidRequestPath", "An HTTP(S) probe needs a requestPath.")
        for section in ("loadBalancingRules", "inboundNatRules"):
            for rule in props.get(section, []):
                for ref in ("frontendIPConfiguration", "backendAddressPool", "probe"):
                    target = rule["properties"].get(ref, {}).get("id")
                    if target and target.lower() not in children:
                        raise ArmError(
                            400,
                            "InvalidResourceReference",
                            f"Resource {target} referenced by {rule['id']} was not found.",
                        )
        ports = [r["properties"]["frontendPort"] for r in props.get("inboundNatRules", [])]
        ports += [r["properties"]["frontendPort"] for r in props.get("loadBalancingRules", [])]
        if len(ports) != len(set(ports)):
            raise ArmError(
                400, "InboundNatRuleFrontendPortConflict", "Two rules use one frontend port."
            )
        # Its parts are resources other requests reference (a NIC's pool and NAT rule).
        for key in [k for k in self.resources if k.startswith(rid.lower() + "/")]:
            self.resources.pop(key)
        self.resources.update(children)
        return stored

    def _zone(self, rid, name, body):
        from fake_arm import ArmError

        if body.get("location") != "global":
            raise ArmError(400, "InvalidLocation", "A private DNS zone's location is 'global'.")
        stored = _copy(body)
        stored.setdefault("properties", {})["numberOfVirtualNetworkLinks"] = 0
        return stored

    def _zone_link(self, rid, name, body):
        from fake_arm import ArmError

        if body.get("location") != "global":
            raise ArmError(400, "InvalidLocation", "A virtual network link's location is 'global'.")
        zone = rid.lower().split("/virtualnetworklinks/")[0]
        if zone not in self.resources:
            raise ArmError(404, "ParentResourceNotFound", "The private DNS zone was not found.")
        self._lookup(
            self._require(body, "properties.virtualNetwork.id", "virtual network link"), "link"
        )
        stored = _copy(body)
        stored["properties"]["virtualNetworkLinkState"] = "Completed"
        return stored

    def check_subnets(self, rid, body):
        """What ARM refuses in a virtual network's subnets (called by FakeArm._vnet)."""
        from fake_arm import ArmError

        spaces = [
            ipaddress.ip_network(p) for p in body["properties"]["addressSpace"]["addressPrefixes"]
        ]
        seen = []
        for subnet in body["properties"].get("subnets", []):
            net = ipaddress.ip_network(subnet["properties"]["addressPrefix"])
            if not any(net.subnet_of(space) for space in spaces if space.version == net.version):
                raise ArmError(
                    400,
                    "NetcfgSubnetRangeOutsideVnet",
                    f"Subnet '{subnet['name']}' is not valid because its IP address range is outside the IP address range of virtual network.",
                )
            for other_name, other in seen:
                if net.overlaps(other):
                    raise ArmError(
                        400,
                        "NetcfgSubnetRangesOverlap",
                        f"Subnet '{subnet['name']}' is not valid because its IP address range overlaps with that of an existing subnet '{other_name}' in virtual network.",
                    )
            seen.append((subnet["name"], net))
            nat = subnet["properties"].get("natGateway", {}).get("id")
            if nat:
                self._lookup(nat, f"subnet {subnet['name']}")

    # --- identity --------------------------------------------------------------------------------

    def _identity(self, rid, name, body):
        previous = self.resources.get(rid.lower()) or {}
        stored = _copy(body)
        stored["properties"] = {
            "tenantId": TENANT,
            "principalId": previous.get("properties", {}).get("principalId") or str(uuid.uuid4()),
            "clientId": previous.get("properties", {}).get("clientId") or str(uuid.uuid4()),
        }
        self.created.setdefault(rid.lower(), time.monotonic())
        return stored

    def identities(self):
        return [
            r
            for r in self.resources.values()
            if r.get("type") == "Microsoft.ManagedIdentity/userAssignedIdentities"
        ]

    def _role_assignment(self, rid, name, body):
        from fake_arm import ArmError

        props = self._require(body, "properties", "role assignment")
        role = self._require(body, "properties.roleDefinitionId", "role assignment")
        principal = self._require(body, "properties.principalId", "role assignment")
        scope = rid.lower().split("/providers/microsoft.authorization/")[0]
        if scope not in self.resources:
            raise ArmError(404, "ResourceNotFound", f"The scope {scope} was not found.")
        owner = next(
            (i for i in self.identities() if i["properties"]["principalId"] == principal), None
        )
        if owner is None and principal in self.principals:
            # A user, group or service principal of the directory (not made by this test).
            owner = {"id": f"/directory/{principal}"}
        young = (
            owner is not None
            and time.monotonic() - self.created.get(owner["id"].lower(), 0) < PRINCIPAL_DELAY
        )
        if owner is None or (young and props.get("principalType") != "ServicePrincipal"):
            raise ArmError(
                400,
                "PrincipalNotFound",
                f"Principal {principal.replace('-', '')} does not exist in the directory {TENANT}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.",
            )
        for key, other in self.resources.items():
            if (
                key != rid.lower()
                and other.get("type") == "Microsoft.Authorization/roleAssignments"
                and other["properties"]["principalId"] == principal
                and other["properties"]["roleDefinitionId"].lower() == role.lower()
                and other["properties"]["scope"].lower() == scope
            ):
                raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")
        stored = _copy(body)
        stored["properties"]["scope"] = rid.split("/providers/Microsoft.Authorization/")[0]
        return stored

    def role_assignments_at(self, path):
        """GET <scope>/providers/Microsoft.Authorization/roleAssignments: those on the scope."""
        scope = path.lower().rsplit("/providers/microsoft.authorization/", 1)[0]
        return {
            "value": [
                r
                for r in self.resources.values()
                if r.get("type") == "Microsoft.Authorization/roleAssignments"
                and r["properties"]["scope"].lower() == scope
            ]
        }

    # --- PostgreSQL flexible server -------------------------------------------------------------

    def _pg(self, rid, name, body):
        from fake_arm import ArmError

        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name):
            raise ArmError(400, "InvalidServerName", f"The server name '{name}' is invalid.")
        previous = self.resources.get(rid.lower())
        if previous is None and name in getattr(self, "taken_pg_names", set()):
            raise ArmError(
                409, "ServerNameAlreadyExists", f"Specified server name '{name}' is already used."
            )
        sku = self._require(body, "sku", "flexible server")
        tier = {"B": "Burstable", "D": "GeneralPurpose", "E": "MemoryOptimized"}.get(
            sku.get("name", "_").split("_", 1)[-1][:1]
        )
        if sku.get("tier") != tier or sku.get("name") not in PG_MAX_CONNECTIONS:
            raise ArmError(
                400,
                "InvalidSku",
                f"The SKU '{sku.get('name')}' of tier '{sku.get('tier')}' is not offered.",
            )
        props = self._require(body, "properties", "flexible server")
        if (
            props.get("highAvailability", {}).get("mode", "Disabled") != "Disabled"
            and tier == "Burstable"
        ):
            raise ArmError(
                400,
                "HANotSupportedForBurstableSkus",
                "High availability is not supported for Burstable tier.",
            )
        if str(props.get("version")) not in PG_VERSIONS:
            raise ArmError(
                400, "InvalidVersion", f"Version {props.get('version')} is not supported."
            )
        login = str(props.get("administratorLogin", ""))
        if previous is None:
            if login.lower() in PG_RESERVED_LOGINS or login.lower().startswith("pg_") or not login:
                raise ArmError(
                    400, "InvalidAdministratorLogin", f"Administrator login '{login}' is reserved."
                )
            password = str(props.get("administratorLoginPassword", ""))
            classes = sum(
                bool(re.search(c, password))
                for c in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^a-zA-Z0-9]")
            )
            if not 8 <= len(password) <= 128 or classes < 3:
                raise ArmError(
                    400,
                    "PasswordNotComplex",
                    "The password must be 8-128 characters from three of: upper, lower, digits, symbols.",
                )
        network = props.get("network", {})
        subnet = self._lookup(network.get("delegatedSubnetResourceId"), "flexible server")
        services = [
            d["properties"]["serviceName"] for d in subnet["properties"].get("delegations", [])
        ]
        if services != ["Microsoft.DBforPostgreSQL/flexibleServers"]:
            raise ArmError(
                400,
                "SubnetNotDelegated",
                "The subnet must be delegated to Microsoft.DBforPostgreSQL/flexibleServers only.",
            )
        zone_id = network.get("privateDnsZoneArmResourceId", "")
        zone = self._lookup(zone_id, "flexible server")
        if not zone["name"].endswith(".postgres.database.azure.com"):
            raise ArmError(
                400, "InvalidPrivateDnsZone", "The zone must end in .postgres.database.azure.com."
            )
        stored = _copy(body)
        stored["properties"].pop("administratorLoginPassword", None)  # never returned
        stored["properties"]["fullyQualifiedDomainName"] = f"{name}.postgres.database.azure.com"
        stored["properties"]["state"] = "Ready"
        stored["properties"]["highAvailability"]["state"] = (
            "Healthy"
            if stored["properties"]["highAvailability"].get("mode") != "Disabled"
            else "NotEnabled"
        )
        return stored

    def _pg_server_of(self, rid):
        from fake_arm import ArmError

        server_id = rid.lower().split("/configurations/")[0]
        server = self.resources.get(server_id)
        if server is None:
            raise ArmError(404, "ResourceNotFound", "The flexible server was not found.")
        return server

    def _pg_configuration_get(self, rid):
        from fake_arm import ArmError

        server = self._pg_server_of(rid)
        name = rid.rsplit("/", 1)[-1]
        stored = self.resources.get(rid.lower())
        if stored is not None:
            return stored
        defaults = {
            "max_connections": str(PG_MAX_CONNECTIONS[server["sku"]["name"]]),
            "require_secure_transport": "on",
        }
        if name not in defaults:
            raise ArmError(
                404, "ConfigurationNotExists", f"The configuration '{name}' does not exist."
            )
        return {
            "id": rid,
            "name": name,
            "type": "Microsoft.DBforPostgreSQL/flexibleServers/configurations",
            "properties": {
                "value": defaults[name],
                "source": "system-default",
                "dataType": "String",
            },
        }

    def _pg_configuration(self, rid, name, body):
        self._pg_server_of(rid)
        value = self._require(body, "properties.value", "configuration")
        stored = _copy(body)
        stored["properties"].update(value=value, dataType="String")
        return stored
