# Shared by the azure_vm role's modules: credentials, SDK clients for the chosen cloud or an
# explicit Resource Manager endpoint, wire-shape comparison, and ARM errors in plain words.
# The SDKs send dict bodies to the wire as they are, so every body here is REST-shaped
# (camelCase), and every GET result is turned back into that shape with `as_dict()`.

import traceback

IMPORT_ERROR = None
try:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
    )
    from azure.identity import (
        AzureAuthorityHosts,
        CredentialUnavailableError,
        DefaultAzureCredential,
    )
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.core.tools import get_arm_endpoints
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.storage import StorageManagementClient
except ImportError:  # pragma: no cover - reported by the module
    IMPORT_ERROR = traceback.format_exc()
try:  # Only the load-balanced layout and the managed PostgreSQL need these.
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.msi import ManagedServiceIdentityClient
    from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient
    from azure.mgmt.privatedns import PrivateDnsManagementClient
except ImportError:  # pragma: no cover - reported by the module
    IMPORT_ERROR = traceback.format_exc()

CLOUDS = {
    "public": "AZURE_PUBLIC_CLOUD",
    "china": "AZURE_CHINA_CLOUD",
    "usgov": "AZURE_US_GOVERNMENT",
}

NO_CREDENTIALS = (
    "no Azure credentials found. Any of these works: a service principal in the environment"
    " (AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH),"
    " workload identity (AZURE_FEDERATED_TOKEN_FILE), the managed identity of the machine running"
    " Ansible, or `az login` with the Azure CLI"
)


class Arm:
    """The management clients on one credential, for a cloud or an explicit endpoint; those
    only some stacks need are made when first used."""

    def __init__(self, subscription_id, cloud="public", endpoint=""):
        settings = get_arm_endpoints(_cloud_setting(cloud))
        kwargs = {"cloud_setting": _cloud_setting(cloud)}
        if endpoint:
            endpoint = endpoint.rstrip("/")
            kwargs = {"base_url": endpoint, "credential_scopes": [endpoint + "/.default"]}
        else:
            kwargs["credential_scopes"] = settings["credential_scopes"]
        authority = {
            "public": AzureAuthorityHosts.AZURE_PUBLIC_CLOUD,
            "china": AzureAuthorityHosts.AZURE_CHINA,
            "usgov": AzureAuthorityHosts.AZURE_GOVERNMENT,
        }[cloud]
        self.credential = DefaultAzureCredential(authority=authority)
        self.subscription_id = subscription_id
        self.resource = ResourceManagementClient(self.credential, subscription_id, **kwargs)
        self.network = NetworkManagementClient(self.credential, subscription_id, **kwargs)
        self.compute = ComputeManagementClient(self.credential, subscription_id, **kwargs)
        self.storage = StorageManagementClient(self.credential, subscription_id, **kwargs)
        self._kwargs = kwargs
        self._extra = {}

    def _client(self, cls):
        if cls not in self._extra:
            self._extra[cls] = cls(self.credential, self.subscription_id, **self._kwargs)
        return self._extra[cls]

    @property
    def postgres(self):
        return self._client(PostgreSQLManagementClient)

    @property
    def msi(self):
        return self._client(ManagedServiceIdentityClient)

    @property
    def authorization(self):
        return self._client(AuthorizationManagementClient)

    @property
    def private_dns(self):
        return self._client(PrivateDnsManagementClient)

    @property
    def keyvault(self):
        return self._client(KeyVaultManagementClient)

    def tenant_id(self):
        """The subscription's directory (GET /subscriptions/<id>): a key vault names it."""
        from azure.core.rest import HttpRequest

        request = HttpRequest(
            "GET", f"/subscriptions/{self.subscription_id}?api-version=2022-12-01"
        )
        response = self.resource.send_request(request)
        response.raise_for_status()
        return response.json()["tenantId"]


def _cloud_setting(cloud):
    from azure.core import AzureClouds

    return getattr(AzureClouds, CLOUDS[cloud])


def wire(model):
    """A GET result as the REST-shaped dict ARM sent."""
    if model is None:
        return None
    if hasattr(model, "serialize"):  # msrest models (identity, authorization): as_dict() would
        return model.serialize(keep_readonly=True)  # give Python names, not the wire's
    return model.as_dict() if hasattr(model, "as_dict") else dict(model)


def get_or_none(call, *args):
    try:
        return wire(call(*args))
    except ResourceNotFoundError:
        return None


def _by_name(items):
    return {str(i.get("name", "")).lower(): i for i in items}


def _get_key(have, key):
    """have[key]; a key that is a resource id (a VM's user-assigned identities) as ARM spells
    it, which may differ in case (`resourcegroups`)."""
    if key in have or not str(key).startswith("/subscriptions/"):
        return have.get(key)
    return next((v for k, v in have.items() if str(k).lower() == key.lower()), None)


def differs(want, have):
    """Whether `have` (what ARM returned) lacks anything of `want` (what we would PUT).

    Only the keys we set are compared; ARM adds computed and default values. Resource ids and
    locations are compared case-insensitively (ARM normalises them); lists of named items
    (rules, subnets, IP configurations) are compared by name, not order.
    """
    if want in ({}, []) and have is None:
        return False  # ARM leaves out empty tags and lists
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return True
        return any(differs(value, _get_key(have, key)) for key, value in want.items())
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return True
        if all(isinstance(i, dict) and "name" in i for i in want):
            theirs = _by_name(have)
            return any(differs(i, theirs.get(str(i["name"]).lower())) for i in want)
        return any(differs(w, h) for w, h in zip(want, have, strict=True))
    if (
        isinstance(want, str)
        and isinstance(have, str)
        and (want.startswith("/subscriptions/") or want.replace(" ", "").lower() == have.lower())
    ):
        return want.lower() != have.lower() and want.replace(" ", "").lower() != have.lower()
    return want != have


def explain(exc, context):
    """One line a user can act on, for an exception from the SDK."""
    if isinstance(exc, (ClientAuthenticationError, CredentialUnavailableError)):
        text = str(exc)
        if "DefaultAzureCredential failed" in text or isinstance(exc, CredentialUnavailableError):
            return NO_CREDENTIALS
        return f"authentication failed: {text.splitlines()[0]}"
    if isinstance(exc, ServiceRequestError):
        return f"Azure Resource Manager is unreachable ({context['endpoint']}): {exc}"
    if isinstance(exc, HttpResponseError):
        code = getattr(getattr(exc, "error", None), "code", None) or ""
        message = getattr(getattr(exc, "error", None), "message", None) or str(exc)
        message = message.splitlines()[0]
        known = {
            "SubscriptionNotFound": f"subscription {context['subscription_id']} not found"
            " (azure_vm_subscription_id or AZURE_SUBSCRIPTION_ID): is it the right one?",
            "InvalidSubscriptionId": f"subscription {context['subscription_id']} is not valid",
            "AuthorizationFailed": "no permission in subscription "
            f"{context['subscription_id']}: the identity needs the role Contributor on the"
            " subscription or the resource group",
            "DnsRecordInUse": f"azure_vm_dns_label {context['dns_label']!r} is already taken in"
            f" {context['location']}: choose another label",
            "SkuNotAvailable": f"azure_vm_size {context['vm_size']} is not offered in"
            f" {context['location']} for this subscription: choose another size or region",
            "PlatformImageNotFound": f"azure_vm_image {context['image']} is not available in"
            f" {context['location']}",
            "LocationNotAvailableForResourceType": f"azure_vm_location {context['location']}"
            " cannot hold these resources",
            "ServerNameAlreadyExists": "azure_vm_postgres_server"
            f" {context.get('postgres_server')!r} is taken: the name is global"
            " (<name>.postgres.database.azure.com), choose another",
            "PasswordNotComplex": "azure_vm_postgres_admin_password is refused: 8-128 characters"
            " from three of upper case, lower case, digits, symbols",
            "HANotSupportedForBurstableSkus": "azure_vm_postgres_high_availability needs the"
            " GeneralPurpose or MemoryOptimized tier (azure_vm_postgres_sku Standard_D... or"
            " Standard_E...)",
        }
        if code in known:
            return f"{known[code]} ({code}: {message})"
        if code == "OperationNotAllowed" and "quota" in message.lower():
            return f"quota exceeded in {context['location']} ({code}: {message})"
        return f"{code or 'HTTP ' + str(exc.status_code)}: {message}"
    return f"{type(exc).__name__}: {exc}"


# --- each resource kind of the plan (azure_vm_plan.py) bound to its SDK calls --------------------
# get(arm, rg, name) -> model; put(arm, rg, name, body) -> poller or model; delete(...) -> poller,
# model or None. A child's name is "parent/child"; a role assignment's "scope|name".


def _two(name):
    return name.split("/", 1)


def _assignment(name):
    return name.split("|", 1)


OPERATIONS = {
    "resource_group": (
        lambda a, rg, name: a.resource.resource_groups.get(name),
        lambda a, rg, name, b: a.resource.resource_groups.create_or_update(name, b),
        lambda a, rg, name: a.resource.resource_groups.begin_delete(name),
    ),
    "virtual_network": (
        lambda a, rg, name: a.network.virtual_networks.get(rg, name),
        lambda a, rg, name, b: a.network.virtual_networks.begin_create_or_update(rg, name, b),
        lambda a, rg, name: a.network.virtual_networks.begin_delete(rg, name),
    ),
    "security_group": (
        lambda a, rg, name: a.network.network_security_groups.get(rg, name),
        lambda a, rg, name, b: a.network.network_security_groups.begin_create_or_update(
            rg, name, b
        ),
        lambda a, rg, name: a.network.network_security_groups.begin_delete(rg, name),
    ),
    "public_ip": (
        lambda a, rg, name: a.network.public_ip_addresses.get(rg, name),
        lambda a, rg, name, b: a.network.public_ip_addresses.begin_create_or_update(rg, name, b),
        lambda a, rg, name: a.network.public_ip_addresses.begin_delete(rg, name),
    ),
    "nat_gateway": (
        lambda a, rg, name: a.network.nat_gateways.get(rg, name),
        lambda a, rg, name, b: a.network.nat_gateways.begin_create_or_update(rg, name, b),
        lambda a, rg, name: a.network.nat_gateways.begin_delete(rg, name),
    ),
    "load_balancer": (
        lambda a, rg, name: a.network.load_balancers.get(rg, name),
        lambda a, rg, name, b: a.network.load_balancers.begin_create_or_update(rg, name, b),
        lambda a, rg, name: a.network.load_balancers.begin_delete(rg, name),
    ),
    "network_interface": (
        lambda a, rg, name: a.network.network_interfaces.get(rg, name),
        lambda a, rg, name, b: a.network.network_interfaces.begin_create_or_update(rg, name, b),
        lambda a, rg, name: a.network.network_interfaces.begin_delete(rg, name),
    ),
    "virtual_machine": (
        lambda a, rg, name: a.compute.virtual_machines.get(rg, name),
        lambda a, rg, name, b: a.compute.virtual_machines.begin_create_or_update(rg, name, b),
        lambda a, rg, name: a.compute.virtual_machines.begin_delete(rg, name),
    ),
    "storage_account": (
        lambda a, rg, name: a.storage.storage_accounts.get_properties(rg, name),
        lambda a, rg, name, b: a.storage.storage_accounts.begin_create(rg, name, b),
        lambda a, rg, name: a.storage.storage_accounts.delete(rg, name),
    ),
    "blob_container": (
        lambda a, rg, name: a.storage.blob_containers.get(rg, *_two(name)),
        lambda a, rg, name, b: a.storage.blob_containers.create(rg, *_two(name), b),
        None,
    ),
    "blob_service": (
        lambda a, rg, name: a.storage.blob_services.get_service_properties(rg, name),
        lambda a, rg, name, b: a.storage.blob_services.set_service_properties(rg, name, b),
        None,
    ),
    "identity": (
        lambda a, rg, name: a.msi.user_assigned_identities.get(rg, name),
        lambda a, rg, name, b: a.msi.user_assigned_identities.create_or_update(rg, name, b),
        lambda a, rg, name: a.msi.user_assigned_identities.delete(rg, name),
    ),
    "role_assignment": (
        lambda a, rg, name: a.authorization.role_assignments.get(*_assignment(name)),
        lambda a, rg, name, b: a.authorization.role_assignments.create(*_assignment(name), b),
        lambda a, rg, name: a.authorization.role_assignments.delete(*_assignment(name)),
    ),
    "private_zone": (
        lambda a, rg, name: a.private_dns.private_zones.get(rg, name),
        lambda a, rg, name, b: a.private_dns.private_zones.begin_create_or_update(rg, name, b),
        lambda a, rg, name: a.private_dns.private_zones.begin_delete(rg, name),
    ),
    "private_zone_link": (
        lambda a, rg, name: a.private_dns.virtual_network_links.get(rg, *_two(name)),
        lambda a, rg, name, b: a.private_dns.virtual_network_links.begin_create_or_update(
            rg, *_two(name), b
        ),
        lambda a, rg, name: a.private_dns.virtual_network_links.begin_delete(rg, *_two(name)),
    ),
    "postgres_server": (
        lambda a, rg, name: a.postgres.servers.get(rg, name),
        lambda a, rg, name, b: a.postgres.servers.begin_create_or_update(rg, name, b),
        lambda a, rg, name: a.postgres.servers.begin_delete(rg, name),
    ),
    "key_vault": (
        lambda a, rg, name: a.keyvault.vaults.get(rg, name),
        lambda a, rg, name, b: a.keyvault.vaults.begin_create_or_update(rg, name, b),
        lambda a, rg, name: a.keyvault.vaults.delete(rg, name),
    ),
    "postgres_configuration": (
        lambda a, rg, name: a.postgres.configurations.get(rg, *_two(name)),
        lambda a, rg, name, b: a.postgres.configurations.begin_put(rg, *_two(name), b),
        None,
    ),
}
