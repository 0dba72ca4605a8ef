"""HTTPS from the controller to a test host, by its container address but under a DNS name.

Scenario tests import this (the verifier's PYTHONPATH holds molecule/shared/tests): the
certificate is verified against `cafile` for `name`, the Host header is `name`, and the TCP
connection goes to the container's address on the scenario's Docker network.
"""

import http.client
import shlex
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from base64 import b64encode


def container_address(name):
    out = subprocess.run(
        [
            "docker",
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            name,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def connects(address, port, timeout=2.0):
    """Whether a TCP connection to address:port is accepted (a firewall drop times out)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


class Endpoint:
    def __init__(self, address, name, cafile, port=443):
        self.address, self.name, self.cafile, self.port = address, name, str(cafile), port

    def context(self, **settings):
        ctx = ssl.create_default_context(cafile=self.cafile)
        for key, value in settings.items():
            setattr(ctx, key, value)
        return ctx

    def connect(self, ctx=None):
        sock = socket.create_connection((self.address, self.port), timeout=30)
        return (ctx or self.context()).wrap_socket(sock, server_hostname=self.name)

    def request(self, path, auth=None, method="GET", data=None, headers=None, host_header=None):
        """(status, body bytes, headers) of one request; HTTP errors are answers, not raised."""
        endpoint = self

        class Connection(http.client.HTTPSConnection):
            def connect(self):
                self.sock = endpoint.connect(self._context)

        class Handler(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(Connection, req, context=endpoint.context())

        port = "" if self.port == 443 else f":{self.port}"
        req = urllib.request.Request(
            f"https://{host_header or self.name}{port}{path}",
            method=method,
            data=data,
            headers=headers or {},
        )
        if auth:
            req.add_header(
                "Authorization", "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            )
        try:
            with urllib.request.build_opener(Handler()).open(req, timeout=300) as resp:
                return resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as err:
            return err.code, err.read(), err.headers

    def negotiates(self, version):
        """The TLS version agreed when the client offers only `version`, or None if refused."""
        ctx = self.context(minimum_version=version, maximum_version=version)
        if version < ssl.TLSVersion.TLSv1_2:
            # OpenSSL's default security level forbids TLS < 1.2 on the client side: lower it,
            # so that a refusal can only come from the server.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        try:
            with self.connect(ctx) as tls:
                return tls.version()
        except (ssl.SSLError, ConnectionResetError):
            return None

    def peer_certificate_pem(self):
        with self.connect() as tls:
            return ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True))

    def plain_http(self, path, port=80):
        """Status line and headers of a plain-HTTP GET (no redirect following)."""
        with socket.create_connection((self.address, port), timeout=10) as conn:
            conn.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {self.name}\r\nConnection: close\r\n\r\n".encode()
            )
            response = b""
            while chunk := conn.recv(4096):
                response += chunk
        return response.decode(errors="replace").split("\r\n\r\n")[0].split("\r\n")


def login_statuses(host, name, path, auth, count, port=443):
    """(status, Retry-After or None) of `count` requests with `auth` through nginx, sent from
    the host itself (client address 127.0.0.1): a bucket of its own for the failed-login
    throttle, so a test that trips it leaves the controller's address alone."""
    user, password = auth
    script = (
        f"for i in $(seq {count}); do curl -sk -o /dev/null -D - -w '%{{http_code}}\\n'"
        f' --resolve {name}:{port}:127.0.0.1 -u "$MP_USER:$MP_PASSWORD" https://{name}:{port}{path}'
        " | grep -iE '^retry-after:|^[0-9]{3}$' | tr -d '\\r' | paste -sd ' '; done"
    )
    env = f"MP_USER={shlex.quote(user)} MP_PASSWORD={shlex.quote(password)}"
    out = host.run(f"{env} bash -c {shlex.quote(script)}")
    assert out.rc == 0, out.stderr
    answers = []
    for line in out.stdout.splitlines():
        words = line.split()
        retry_after = words[1] if words[0].lower() == "retry-after:" else None
        answers.append((int(words[-1]), retry_after))
    return answers


def fetch_pebble_root(pebble, ca, dest, containers=(), on_host="/root/pebble-root.pem"):
    """Pebble's root certificate, the trust anchor of a scenario's clients: it is made anew each
    time Pebble starts, so it is read from Pebble's management endpoint (port 15000, its API's
    certificate from the scenario's test CA `ca`), as Pebble's README says. Written to `dest` on
    the controller and copied to `on_host` in each of `containers`; returns `dest`."""
    management = Endpoint(container_address(pebble), pebble, ca, 15000)
    status, body, _ = management.request("/roots/0")
    assert status == 200 and body.startswith(b"-----BEGIN CERTIFICATE-----"), (status, body[:200])
    dest.write_bytes(body)
    for container in containers:
        subprocess.run(["docker", "cp", str(dest), f"{container}:{on_host}"], check=True)
    return dest
