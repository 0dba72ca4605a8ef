"""A fake Azure Resource Manager that behaves like ARM on the wire, for the real Azure SDK.

What it does, as ARM does:
- HTTPS only, with a CA the test creates (the SDK refuses bearer tokens over plain HTTP), and a
  managed-identity token endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER, the App Service
  protocol), so DefaultAzureCredential runs for real; every ARM call needs its bearer token.
- `api-version` required on every request.
- PUT of a long-running resource -> 201 + `Azure-AsyncOperation` and provisioningState
  `Updating`; the operation answers `InProgress` `polls` times, then `Succeeded` (or `Failed`
  with an ARM error body). Storage accounts answer 202 + `Location` instead. GET returns what
  was stored plus what ARM computes (ids, FQDN, IP addresses, principal id, provisioningState).
  DELETE -> 202 + `Location`; 404 with ARM's error shape for what does not exist.
- Checks the request bodies against the shape each resource type requires, and the rules a
  user meets: DNS label taken in the region, size not offered, image missing, core quota,
  subscription not found or not permitted, resources still in use on delete.
- `latency` seconds per long-running operation (wall time from PUT to Succeeded), and
  `inject` to make the next operation on a resource type fail with a given ARM error.
"""

import http.server
import ipaddress
import json
import re
import socketserver
import ssl
import threading
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fake_arm_resources import MoreResources

TENANT = "72f988bf-0000-4000-8000-000000000001"
SUBSCRIPTION = "00000000-0000-4000-8000-000000000001"
FORBIDDEN_SUBSCRIPTION = "00000000-0000-4000-8000-000000000403"
IDENTITY_HEADER = "fake-identity-header"
SIZES = {"Standard_B1s": 1, "Standard_B2s": 2, "Standard_D2s_v5": 2, "Standard_D4s_v5": 4}
IMAGES = {
    ("Debian", "debian-12", "12-gen2"),
    ("Canonical", "ubuntu-24_04-lts", "server"),
}
LOCATIONS = {
    "westeurope",
    "northeurope",
    "eastus",
    "eastus2",
    "westus2",
    "uksouth",
    "swedencentral",
}

NETWORK = "Microsoft.Network"
COMPUTE = "Microsoft.Compute"
STORAGE = "Microsoft.Storage"
RID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
    r"(?:/providers/(?P<ns>[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+)(?P<rest>(?:/[^/]+/[^/]+)*))?$",
    re.I,
)


def arm_error(status, code, message):
    return status, {"error": {"code": code, "message": message}}


class ArmError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def make_tls(directory: Path, names=("localhost",)):
    """A CA and a certificate for `names` (DNS names, wildcards allowed) and 127.0.0.1 signed by
    it; returns (ca, cert, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    # Its own name: two fakes' CAs in one bundle must not be taken for each other.
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"fake test CA for {names[0]}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    *(x509.DNSName(name) for name in names),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class FakeArm(MoreResources):
    def __init__(self, directory: Path, latency=0.0, polls=1, core_quota=10, poll_seconds=1.0):
        self.directory = Path(directory)
        self.ca, self._cert, self._key = make_tls(self.directory)
        self.latency, self.polls, self.core_quota = latency, polls, core_quota
        # How long the SDK waits between polls: ARM says Retry-After in whole seconds; below
        # one, the fake says retry-after-ms (which azure-core honours too), for fast tests.
        self.poll_seconds = poll_seconds
        self.resources = {}  # lower-cased id -> stored resource (wire JSON)
        self.operations = {}  # id -> {"due": time, "polls": n, "error": None | dict}
        self.requests = []  # (method, path) of every ARM request, tokens excluded
        self.timeline = []  # (monotonic time, method, path)
        self.taken_dns_labels = set()  # (location, label) owned by "someone else"
        self.inject = {}  # resource type (lower) -> (status, code, message) for the next PUT
        self.tokens = set()
        self.lock = threading.Lock()
        self._ips = iter(f"20.50.{i // 250}.{i % 250 + 1}" for i in range(10000))
        self._server = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, headers = fake.handle(self.command, self.path, self.headers, body)
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-ms-request-id", str(uuid.uuid4()))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = _handle

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self._cert, self._key)
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()

    @property
    def url(self):
        return f"https://localhost:{self._server.server_address[1]}"

    def environment(self):
        """What a process needs to reach this fake with the real SDK and DefaultAzureCredential."""
        return {
            "IDENTITY_ENDPOINT": f"{self.url}/msi/token",
            "IDENTITY_HEADER": IDENTITY_HEADER,
            "REQUESTS_CA_BUNDLE": str(self.ca),
            "SSL_CERT_FILE": str(self.ca),
            "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
        }

    # --- what tests look at ------------------------------------------------------------------

    def writes(self):
        return [(m, p) for m, p in self.requests if m in ("PUT", "PATCH", "DELETE", "POST")]

    def get(self, resource_id):
        return self.resources.get(resource_id.lower())

    # --- request handling --------------------------------------------------------------------

    def handle(self, method, raw_path, headers, body):
        parsed = urllib.parse.urlparse(raw_path)
        query = urllib.parse.parse_qs(parsed.query)
        path = parsed.path.rstrip("/")
        if path == "/msi/token":
            return self._token(headers, query)
        with self.lock:
            self.requests.append((method, path))
            self.timeline.append((time.monotonic(), method, path))
        if headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return (*arm_error(401, "AuthenticationFailed", "Authentication failed."), None)
        if "api-version" not in query:
            return (
                *arm_error(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                ),
                None,
            )
        try:
            if "/operations/" in path or path.startswith("/operationresults/"):
                return self._operation(path)
            sub = path.split("/")[2] if path.startswith("/subscriptions/") else ""
            if sub == FORBIDDEN_SUBSCRIPTION:
                raise ArmError(
                    403,
                    "AuthorizationFailed",
                    f"The client 'fake-identity' with object id '{uuid.uuid4()}' does not have authorization to perform action over scope '/subscriptions/{sub}' or the scope is invalid.",
                )
            if sub != SUBSCRIPTION:
                raise ArmError(
                    404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
                )
            if method == "GET" and path.lower() == f"/subscriptions/{sub}":
                return 200, self.subscription(sub), None
            if method == "GET" and path.lower().endswith(
                "/providers/microsoft.authorization/roleassignments"
            ):
                with self.lock:
                    return 200, self.role_assignments_at(path), None
            match = RID.match(path)
            if not match:
                raise ArmError(404, "InvalidResourceType", f"No route for {path}.")
            body_json = json.loads(body) if body else {}
            with self.lock:
                return self._resource(method, path, match, body_json)
        except ArmError as err:
            return (*arm_error(err.status, err.code, err.message), None)

    def _token(self, headers, query):
        if headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            return 401, {"error": "invalid identity header"}, None
        token = uuid.uuid4().hex
        self.tokens.add(token)
        expires = int(time.time()) + 3600
        return (
            200,
            {
                "access_token": token,
                "expires_on": str(expires),
                "resource": query.get("resource", [""])[0],
                "token_type": "Bearer",
            },
            None,
        )

    # --- operations (long-running) -----------------------------------------------------------

    def _start_operation(self, namespace, location, resource_id, error=None, kind="async"):
        op = uuid.uuid4().hex
        self.operations[op] = {
            "due": time.monotonic() + self.latency,
            "polls": self.polls,
            "resource": resource_id,
            "error": error,
            "kind": kind,
        }
        sub = resource_id.split("/")[2]
        url = f"{self.url}/subscriptions/{sub}/providers/{namespace}/locations/{location}/operations/{op}?api-version=2024-01-01"
        if kind == "location":
            return {"Location": url, **self._retry()}
        return {"Azure-AsyncOperation": url, **self._retry()}

    def _retry(self):
        if self.poll_seconds >= 1:
            return {"Retry-After": str(int(self.poll_seconds))}
        return {"retry-after-ms": str(int(self.poll_seconds * 1000))}

    def _operation(self, path):
        op = self.operations.get(path.rsplit("/", 1)[-1])
        if op is None:
            raise ArmError(404, "OperationNotFound", "The operation was not found.")
        done = op["polls"] <= 0 and time.monotonic() >= op["due"]
        op["polls"] -= 1
        if op["kind"] == "location":
            if not done:
                return (
                    202,
                    None,
                    {"Location": f"{self.url}{path}?api-version=2024-01-01", **self._retry()},
                )
            resource = self.resources.get(op["resource"].lower())
            if resource is not None:
                resource.setdefault("properties", {})["provisioningState"] = "Succeeded"
            return (200, resource, None) if resource is not None else (204, None, None)
        if not done:
            return 200, {"status": "InProgress"}, self._retry()
        resource = self.resources.get(op["resource"].lower())
        if op["error"]:
            if resource is not None:
                resource["properties"]["provisioningState"] = "Failed"
            return 200, {"status": "Failed", "error": op["error"]}, None
        if resource is not None:
            resource["properties"]["provisioningState"] = "Succeeded"
        return 200, {"status": "Succeeded"}, None

    # --- resources ---------------------------------------------------------------------------

    def _resource(self, method, path, match, body):
        sub, rg = match["sub"], match["rg"]
        rg_id = f"/subscriptions/{sub}/resourceGroups/{rg}"
        if not match["ns"]:
            return self._resource_group(method, rg_id, body)
        if rg_id.lower() not in self.resources:
            raise ArmError(
                404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found."
            )
        ns, rtype, name, rest = match["ns"], match["type"], match["name"], match["rest"] or ""
        rid = f"{rg_id}/providers/{ns}/{rtype}/{name}{rest}"
        key = rid.lower()
        kind = self.kind_of(ns, rtype, rest)
        if method == "GET" and kind in self.computed_gets:
            return 200, self.computed_gets[kind](rid), None
        # Deleted at once (200/204), as ARM does for these; a key vault is only soft-deleted.
        if method == "DELETE" and kind in self.sync_kinds | {
            "microsoft.storage/storageaccounts",
            "microsoft.keyvault/vaults",
        }:
            self._check_not_in_use(key) if key in self.resources else None
            gone = self.resources.pop(key, None)
            for child in [k for k in self.resources if k.startswith(key + "/")]:
                self.resources.pop(child)
            return (200, gone, None) if gone is not None else (204, None, None)
        if method == "GET":
            if key not in self.resources:
                raise ArmError(
                    404,
                    "ResourceNotFound",
                    f"The Resource '{ns}/{rtype}/{name}' under resource group '{rg}' was not found.",
                )
            return 200, self.resources[key], None
        if method == "DELETE":
            if key not in self.resources:
                return 204, None, None
            self._check_not_in_use(key)
            resource = self.resources.pop(key)
            for child in [k for k in self.resources if k.startswith(key + "/")]:
                self.resources.pop(child)
            ns_for_op = ns
            headers = self._start_operation(
                ns_for_op, resource.get("location", "westeurope"), rid, kind="location"
            )
            return 202, None, headers
        if method != "PUT":
            raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here.")
        handler = {
            **self.more_handlers(),
            "microsoft.network/virtualnetworks": self._vnet,
            "microsoft.network/networksecuritygroups": self._nsg,
            "microsoft.network/publicipaddresses": self._public_ip,
            "microsoft.network/networkinterfaces": self._nic,
            "microsoft.compute/virtualmachines": self._vm,
            "microsoft.storage/storageaccounts": self._storage,
            "microsoft.storage/storageaccounts/blobservices": self._container,
        }.get(kind)
        if handler is None:
            raise ArmError(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for {kind}.",
            )
        existed = key in self.resources
        location = body.get("location") or self.resources.get(rg_id.lower(), {}).get("location")
        if "location" in body and body["location"] not in LOCATIONS | {"global"}:
            raise ArmError(
                400,
                "LocationNotAvailableForResourceType",
                f"The provided location '{body['location']}' is not available for resource type '{ns}/{rtype}'.",
            )
        stored = handler(rid, name, body)
        stored.update(
            {"id": rid, "name": rid.rsplit("/", 1)[-1], "type": self.type_of(kind, ns, rtype)}
        )
        if location and kind != "microsoft.storage/storageaccounts/blobservices":
            stored["location"] = location
        stored["etag"] = f'W/"{uuid.uuid4()}"'
        injected = self.inject.pop(kind, None)
        self.resources[key] = stored
        if kind == "microsoft.storage/storageaccounts/blobservices":
            # Service properties always answer 200 (they exist with the account); containers 201.
            new_container = not existed and not rid.lower().endswith("/blobservices/default")
            return (201 if new_container else 200), stored, None
        if kind == "microsoft.storage/storageaccounts":
            stored["properties"]["provisioningState"] = "Creating"
            return 202, None, self._start_operation(ns, location, rid, kind="location")
        if kind in self.sync_kinds:
            stored.setdefault("properties", {})["provisioningState"] = "Succeeded"
            return (200 if existed else 201), stored, None
        if kind in self.accepted_kinds:
            # 202 without a body, then the operation; the SDK reads the resource at the end.
            stored.setdefault("properties", {})["provisioningState"] = "Accepted"
            error = {"code": injected[1], "message": injected[2]} if injected else None
            return 202, None, self._start_operation(ns, location, rid, error=error)
        stored["properties"]["provisioningState"] = "Updating"
        error = {"code": injected[1], "message": injected[2]} if injected else None
        headers = self._start_operation(ns, location, rid, error=error)
        return (200 if existed else 201), stored, headers

    @staticmethod
    def kind_of(ns, rtype, rest):
        """microsoft.network/virtualnetworks, .../flexibleservers/configurations; a role
        assignment (an extension resource on any scope) is microsoft.authorization/roleassignments."""
        if "/providers/microsoft.authorization/roleassignments/" in rest.lower():
            return "microsoft.authorization/roleassignments"
        return f"{ns}/{rtype}{'/' + rest.split('/')[1] if rest else ''}".lower()

    def _resource_group(self, method, rg_id, body):
        key = rg_id.lower()
        if method == "GET":
            if key not in self.resources:
                raise ArmError(
                    404,
                    "ResourceGroupNotFound",
                    f"Resource group '{rg_id.rsplit('/', 1)[-1]}' could not be found.",
                )
            return 200, self.resources[key], None
        if method == "DELETE":
            prefix = key + "/"
            for rid in [r for r in self.resources if r.startswith(prefix)]:
                self.resources.pop(rid)
            self.resources.pop(key, None)
            return (
                202,
                None,
                self._start_operation("Microsoft.Resources", "westeurope", rg_id, kind="location"),
            )
        if body.get("location") not in LOCATIONS:
            raise ArmError(
                400,
                "LocationNotAvailableForResourceType",
                f"The provided location '{body.get('location')}' is not available for resource type 'Microsoft.Resources/resourceGroups'.",
            )
        existed = key in self.resources
        self.resources[key] = {
            "id": rg_id,
            "name": rg_id.rsplit("/", 1)[-1],
            "type": "Microsoft.Resources/resourceGroups",
            "location": body["location"],
            "tags": body.get("tags", {}),
            "properties": {"provisioningState": "Succeeded"},
        }
        return (200 if existed else 201), self.resources[key], None

    @staticmethod
    def _require(body, dotted, kind):
        value = body
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                raise ArmError(
                    400,
                    "InvalidRequestFormat",
                    f"Cannot parse the request: {kind} requires '{dotted}'.",
                )
            value = value[part]
        return value

    def _vnet(self, rid, name, body):
        prefixes = self._require(body, "properties.addressSpace.addressPrefixes", "virtual network")
        for prefix in prefixes:
            ipaddress.ip_network(prefix)
        self.check_subnets(rid, body)
        stored = json.loads(json.dumps(body))
        for subnet in stored["properties"].get("subnets", []):
            self._require(subnet, "properties.addressPrefix", "subnet")
            subnet["id"] = f"{rid}/subnets/{subnet['name']}"
            subnet["properties"]["provisioningState"] = "Succeeded"
            self.resources[subnet["id"].lower()] = subnet
        return stored

    def _nsg(self, rid, name, body):
        stored = json.loads(json.dumps(body))
        seen = set()
        for rule in stored.get("properties", {}).get("securityRules", []):
            props = self._require(rule, "properties", "security rule")
            for field in ("protocol", "access", "direction", "priority"):
                self._require(rule, f"properties.{field}", "security rule")
            if (
                not 100 <= props["priority"] <= 4096
                or (props["direction"], props["priority"]) in seen
            ):
                raise ArmError(
                    400,
                    "SecurityRuleConflict",
                    f"Security rule {rule['name']} has an invalid or duplicate priority.",
                )
            seen.add((props["direction"], props["priority"]))
            rule["id"] = f"{rid}/securityRules/{rule['name']}"
            props["provisioningState"] = "Succeeded"
        return stored

    def _public_ip(self, rid, name, body):
        sku = self._require(body, "sku.name", "public IP address")
        method = self._require(body, "properties.publicIPAllocationMethod", "public IP address")
        if sku == "Standard" and method != "Static":
            raise ArmError(
                400,
                "StandardSkuPublicIPAddressesMustBeStatic",
                "Standard sku publicIp /subscriptions/... must be Static.",
            )
        stored = json.loads(json.dumps(body))
        location = body.get("location")
        label = stored["properties"].get("dnsSettings", {}).get("domainNameLabel")
        if label:
            if not re.fullmatch(r"[a-z][a-z0-9-]{1,61}[a-z0-9]", label):
                raise ArmError(
                    400,
                    "InvalidDomainNameLabel",
                    f"The domain name label {label} is invalid. It must conform to the following regular expression: ^[a-z][a-z0-9-]{{1,61}}[a-z0-9]$.",
                )
            if (location, label) in self.taken_dns_labels:
                raise ArmError(
                    400,
                    "DnsRecordInUse",
                    f"DNS record {label}.{location}.cloudapp.azure.com is already used by another public IP.",
                )
            stored["properties"]["dnsSettings"]["fqdn"] = f"{label}.{location}.cloudapp.azure.com"
        previous = self.resources.get(rid.lower())
        stored["properties"]["ipAddress"] = (previous or {}).get("properties", {}).get(
            "ipAddress"
        ) or next(self._ips)
        return stored

    def _lookup(self, resource_id, what):
        if not resource_id or resource_id.lower() not in self.resources:
            raise ArmError(
                400,
                "InvalidResourceReference",
                f"Resource {resource_id} referenced by {what} was not found.",
            )
        return self.resources[resource_id.lower()]

    def _nic(self, rid, name, body):
        stored = json.loads(json.dumps(body))
        configs = self._require(body, "properties.ipConfigurations", "network interface")
        for i, config in enumerate(stored["properties"]["ipConfigurations"]):
            props = config["properties"]
            subnet = self._lookup(props.get("subnet", {}).get("id"), "network interface")
            if "publicIPAddress" in props:
                self._lookup(props["publicIPAddress"]["id"], "network interface")
            for ref in props.get("loadBalancerBackendAddressPools", []) + props.get(
                "loadBalancerInboundNatRules", []
            ):
                self._lookup(ref.get("id"), "network interface")
            network = ipaddress.ip_network(subnet["properties"]["addressPrefix"])
            previous = self.resources.get(rid.lower())
            kept = (previous or {}).get("properties", {}).get("ipConfigurations", [])
            if i < len(kept) and kept[i]["properties"].get("privateIPAddress"):
                props["privateIPAddress"] = kept[i]["properties"]["privateIPAddress"]
            else:  # Azure's first free address (it keeps .0-.3 for itself)
                used = {
                    c["properties"].get("privateIPAddress")
                    for r in self.resources.values()
                    if r.get("type") == "Microsoft.Network/networkInterfaces"
                    for c in r["properties"].get("ipConfigurations", [])
                }
                props["privateIPAddress"] = next(
                    str(network.network_address + k)
                    for k in range(4 + i, network.num_addresses)
                    if str(network.network_address + k) not in used
                )
            config["id"] = f"{rid}/ipConfigurations/{config['name']}"
        if "networkSecurityGroup" in stored["properties"]:
            self._lookup(stored["properties"]["networkSecurityGroup"]["id"], "network interface")
        del configs
        return stored

    def _vm(self, rid, name, body):
        size = self._require(body, "properties.hardwareProfile.vmSize", "virtual machine")
        if size not in SIZES:
            raise ArmError(
                409,
                "SkuNotAvailable",
                f"The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: {size}' is currently not available in location '{body.get('location')}'.",
            )
        image = self._require(body, "properties.storageProfile.imageReference", "virtual machine")
        if (image.get("publisher"), image.get("offer"), image.get("sku")) not in IMAGES:
            raise ArmError(
                404,
                "PlatformImageNotFound",
                f"The platform image '{image.get('publisher')}:{image.get('offer')}:{image.get('sku')}:{image.get('version')}' is not available.",
            )
        linux = self._require(body, "properties.osProfile.linuxConfiguration", "virtual machine")
        if linux.get("disablePasswordAuthentication") is not True:
            raise ArmError(
                400,
                "InvalidParameter",
                "Password authentication must be disabled (the test expects SSH keys only).",
            )
        keys = self._require(linux, "ssh.publicKeys", "virtual machine")
        if not keys or not str(keys[0].get("keyData", "")).startswith(("ssh-", "ecdsa-")):
            raise ArmError(
                400,
                "InvalidParameter",
                "The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid.",
            )
        for nic in self._require(
            body, "properties.networkProfile.networkInterfaces", "virtual machine"
        ):
            self._lookup(nic.get("id"), "virtual machine")
        used = sum(
            SIZES.get(r["properties"]["hardwareProfile"]["vmSize"], 0)
            for k, r in self.resources.items()
            if r.get("type") == "Microsoft.Compute/virtualMachines" and k != rid.lower()
        )
        if used + SIZES[size] > self.core_quota:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Location: {body.get('location')}, Current Limit: {self.core_quota}, Current Usage: {used}, Additional Required: {SIZES[size]}.",
            )
        stored = json.loads(json.dumps(body))
        previous = self.resources.get(rid.lower())
        stored["properties"]["vmId"] = (previous or {}).get("properties", {}).get("vmId") or str(
            uuid.uuid4()
        )
        if body.get("identity", {}).get("type") == "UserAssigned":
            # ARM returns the identities' ids as it normalises them ("resourcegroups").
            stored["identity"]["userAssignedIdentities"] = {}
            for identity_id in body["identity"].get("userAssignedIdentities", {}):
                identity = self._lookup(identity_id, "virtual machine")
                normalised = identity_id.replace("/resourceGroups/", "/resourcegroups/")
                stored["identity"]["userAssignedIdentities"][normalised] = {
                    "principalId": identity["properties"]["principalId"],
                    "clientId": identity["properties"]["clientId"],
                }
        for zone in body.get("zones", []):
            if zone not in ("1", "2", "3"):
                raise ArmError(400, "InvalidAvailabilityZone", f"Zone '{zone}' is not valid.")
        if body.get("identity", {}).get("type") == "SystemAssigned":
            old = (previous or {}).get("identity", {})
            stored["identity"] = {
                "type": "SystemAssigned",
                "principalId": old.get("principalId") or str(uuid.uuid4()),
                "tenantId": TENANT,
            }
        return stored

    def _storage(self, rid, name, body):
        if not re.fullmatch(r"[a-z0-9]{3,24}", name):
            raise ArmError(
                400,
                "AccountNameInvalid",
                f"{name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.",
            )
        self._require(body, "sku.name", "storage account")
        self._require(body, "kind", "storage account")
        stored = json.loads(json.dumps(body))
        stored["properties"]["primaryEndpoints"] = {
            "blob": f"https://{name}.blob.core.windows.net/"
        }
        return stored

    def _container(self, rid, name, body):
        """A blob container (default/containers/<name>), or the blob service's properties
        (default: soft delete, versioning)."""
        service = rid.lower().split("/blobservices/")[1]
        if service == "default":
            account = rid.lower().split("/blobservices/")[0]
            if account not in self.resources:
                raise ArmError(404, "ResourceNotFound", "The storage account was not found.")
            days = body.get("properties", {}).get("deleteRetentionPolicy", {}).get("days", 7)
            if not 1 <= int(days) <= 365:
                raise ArmError(400, "InvalidValue", f"deleteRetentionPolicy.days {days}: 1 to 365.")
            return json.loads(json.dumps(body))
        if not service.startswith("default/containers/"):
            raise ArmError(400, "InvalidResourceName", "Only default/containers/<name> is served.")
        account = rid.lower().split("/blobservices/")[0]
        if account not in self.resources:
            raise ArmError(404, "ResourceNotFound", "The storage account was not found.")
        stored = json.loads(json.dumps(body)) or {"properties": {}}
        stored.setdefault("properties", {})
        return stored

    def _check_not_in_use(self, key):
        target = self.resources[key]
        rtype = target.get("type", "")
        for other in self.resources.values():
            text = json.dumps(other).lower()
            if other is target or key not in text or other.get("id", "").lower().startswith(key):
                continue
            code = {
                "Microsoft.Network/networkInterfaces": "NicInUse",
                "Microsoft.Network/publicIPAddresses": "PublicIPAddressCannotBeDeleted",
                "Microsoft.Network/networkSecurityGroups": "InUseNetworkSecurityGroupCannotBeDeleted",
                "Microsoft.Network/virtualNetworks": "InUseSubnetCannotBeDeleted",
            }.get(rtype, "ResourceInUse")
            raise ArmError(
                400, code, f"{target['id']} is in use by {other.get('id')} and cannot be deleted."
            )


def serve(directory: Path):
    """Run until SIGTERM, for molecule's azure_vm scenario: writes <dir>/env.json (what a
    process needs to use this fake) and <dir>/fake_arm.pid."""
    import os
    import signal

    directory.mkdir(parents=True, exist_ok=True)
    fake = FakeArm(directory / "tls", polls=1, poll_seconds=0.2).start()
    (directory / "env.json").write_text(
        json.dumps({**fake.environment(), "FAKE_ARM_URL": fake.url})
    )
    (directory / "fake_arm.pid").write_text(str(os.getpid()))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    import sys

    serve(Path(sys.argv[1]))
