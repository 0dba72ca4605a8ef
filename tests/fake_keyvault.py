"""A fake Azure Key Vault data plane for the real azure-keyvault-secrets client.

The client talks to the real name (https://<vault>.vault.azure.net): this fake is the HTTPS
proxy the test gives it (HTTPS_PROXY). It answers CONNECT for *.vault.azure.net, then speaks
TLS itself with a certificate for that name from a CA the test trusts (REQUESTS_CA_BUNDLE).
As Key Vault does: a request without a bearer token gets 401 and the challenge
(WWW-Authenticate: Bearer authorization=..., resource=https://vault.azure.net), which the client
checks against the vault's name; tokens come from a managed-identity endpoint on the same port
(IDENTITY_ENDPOINT over plain HTTP, as App Service's), so DefaultAzureCredential runs for real.
Secrets: GET and PUT /secrets/<name>, versions, tags, 404 SecretNotFound, 400 for a bad name,
and `forbidden` to answer 403 ForbiddenByRbac (an identity without a role on the vault)."""

import contextlib
import http.server
import json
import os
import re
import socketserver
import ssl
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

from fake_arm import make_tls

IDENTITY_HEADER = "fake-keyvault-identity-header"
TENANT = "72f988bf-0000-4000-8000-000000000001"
_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")


class FakeKeyVault:
    def __init__(self, directory: Path, tokens=None):
        """`tokens`: also accept these (a set another fake issues, e.g. the fake ARM's, for a
        process with one managed identity for both)."""
        self.ca, self._cert, self._key = make_tls(Path(directory), ("*.vault.azure.net",))
        self.foreign_tokens = tokens if tokens is not None else set()
        self.secrets = {}  # (vault host, name) -> [versions: {value, tags, contentType, id}]
        self.requests = []  # (method, host, path, authorized)
        self.tokens = set()
        self.forbidden = False
        self.lock = threading.Lock()
        self._server = None

    def start(self):
        fake = self
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self._cert, self._key)

        class Vault(http.server.BaseHTTPRequestHandler):
            """Requests inside the CONNECT tunnel, for one vault host."""

            protocol_version = "HTTP/1.1"
            vault_host = ""

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, headers = fake.handle(
                    self.command, self.vault_host, self.path, self.headers, body
                )
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = _handle

        class Proxy(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_CONNECT(self):
                host = self.path.rsplit(":", 1)[0].lower()
                if not host.endswith(".vault.azure.net"):
                    self.send_error(403, "only *.vault.azure.net")
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                try:
                    inner = tls.wrap_socket(self.connection, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                handler = type("OneVault", (Vault,), {"vault_host": host})
                handler(inner, self.client_address, self.server)
                self.close_connection = True

            def do_GET(self):
                parsed = urllib.parse.urlparse(self.path)
                if parsed.path != "/msi/token":
                    self.send_error(404)
                    return
                status, payload = fake.token(self.headers, urllib.parse.parse_qs(parsed.query))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Proxy)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()

    @property
    def port(self):
        return self._server.server_address[1]

    def environment(self):
        """What a process needs to reach this fake with the real SDK and DefaultAzureCredential."""
        return {
            "HTTPS_PROXY": f"http://127.0.0.1:{self.port}",
            "https_proxy": f"http://127.0.0.1:{self.port}",
            "NO_PROXY": "localhost,127.0.0.1",
            "no_proxy": "localhost,127.0.0.1",
            "IDENTITY_ENDPOINT": f"http://127.0.0.1:{self.port}/msi/token",
            "IDENTITY_HEADER": IDENTITY_HEADER,
            "REQUESTS_CA_BUNDLE": str(self.ca),
            "SSL_CERT_FILE": str(self.ca),
        }

    @contextlib.contextmanager
    def in_this_process(self):
        """This process reaches the fake (the SDK in-process), and no service principal of the
        environment gets in the way; the environment is put back after."""
        changes = {**self.environment(), **dict.fromkeys(_SERVICE_PRINCIPAL)}
        saved = {key: os.environ.get(key) for key in changes}
        try:
            for key, value in changes.items():
                _set(key, value)
            yield self
        finally:
            for key, value in saved.items():
                _set(key, value)

    def token(self, headers, query):
        if headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            return 401, {"error": "invalid identity header"}
        token = uuid.uuid4().hex
        with self.lock:
            self.tokens.add(token)
        return 200, {
            "access_token": token,
            "expires_on": str(int(time.time()) + 3600),
            "resource": query.get("resource", [""])[0],
            "token_type": "Bearer",
        }

    def values(self, vault_host):
        """{name: latest value} of one vault, for tests."""
        with self.lock:
            return {n: v[-1]["value"] for (h, n), v in self.secrets.items() if h == vault_host}

    def handle(self, method, host, raw_path, headers, body):
        parsed = urllib.parse.urlparse(raw_path)
        query = urllib.parse.parse_qs(parsed.query)
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        authorized = token in self.tokens or token in self.foreign_tokens
        with self.lock:
            self.requests.append((method, host, parsed.path, authorized))
        if not authorized:
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                'resource="https://vault.azure.net"'
            )
            return (
                401,
                _error("Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."),
                {"WWW-Authenticate": challenge},
            )
        if "api-version" not in query:
            return 400, _error("BadParameter", "The api-version parameter is missing"), None
        if self.forbidden:
            return (
                403,
                {
                    "error": {
                        "code": "Forbidden",
                        "message": "Caller is not authorized to perform action on resource.",
                        "innererror": {"code": "ForbiddenByRbac"},
                    }
                },
                None,
            )
        parts = [p for p in parsed.path.split("/") if p]
        if len(parts) < 2 or parts[0] != "secrets":
            return 404, _error("NotFound", f"No route for {parsed.path}"), None
        name = parts[1]
        if not _NAME.match(name):
            return (
                400,
                _error("BadParameter", "The request URI contains an invalid name: " + name),
                None,
            )
        with self.lock:
            versions = self.secrets.setdefault((host, name), [])
            if method == "PUT":
                data = json.loads(body or b"{}")
                version = uuid.uuid4().hex
                versions.append(
                    {
                        "value": data["value"],
                        "tags": data.get("tags"),
                        "contentType": data.get("contentType"),
                        "id": f"https://{host}/secrets/{name}/{version}",
                    }
                )
                return 200, _bundle(versions[-1]), None
            if method == "GET":
                if not versions:
                    del self.secrets[(host, name)]
                    return (
                        404,
                        _error(
                            "SecretNotFound",
                            f"A secret with (name/id) {name} was not found in this key vault.",
                        ),
                        None,
                    )
                return 200, _bundle(versions[-1]), None
        return 405, _error("MethodNotAllowed", method), None


_SERVICE_PRINCIPAL = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET")


def _set(key, value):
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value


def _bundle(version):
    now = int(time.time())
    return {
        **{k: v for k, v in version.items() if v is not None},
        "attributes": {
            "enabled": True,
            "created": now,
            "updated": now,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        },
    }


def _error(code, message):
    return {"error": {"code": code, "message": message}}
