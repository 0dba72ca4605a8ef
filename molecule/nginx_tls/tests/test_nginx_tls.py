"""Role nginx_tls (provided certificate) in front of two header-echo upstreams, and the drain of
one of them (module nginx_upstream_server)."""

import base64
import hashlib
import http.client
import json
import os
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from mp_https import Endpoint, container_address, login_statuses

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
CA = EPHEMERAL / "tls" / "ca.pem"
NAME = "mlflow.example.test"
ALICE = ("alice", "correct horse: battery@staple/%#?&[]= ")


@pytest.fixture(scope="module")
def site(host):
    return Endpoint(container_address(host.backend.get_hostname()), NAME, CA)


def _generated_password():
    return (EPHEMERAL / "credentials" / "mlflow.password").read_text().strip()


def test_nginx_running_and_enabled(host):
    svc = host.service("nginx")
    assert svc.is_running
    assert svc.is_enabled


def test_listens_on_all_interfaces(host):
    for port in (80, 443, 5000):
        out = host.check_output(f"ss -Htln 'sport = :{port}'")
        assert f"0.0.0.0:{port}" in out


def test_config_validates_and_is_ours(host):
    host.run_expect([0], "nginx -t")
    conf = host.file("/etc/nginx/nginx.conf")
    assert (conf.user, conf.mode) == ("root", 0o644)
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf.content_string


def test_key_and_password_file_modes(host):
    key = host.file("/etc/ssl/private/mlflow-provision.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)
    htpasswd = host.file("/etc/nginx/mlflow.htpasswd")
    assert (htpasswd.user, htpasswd.group, htpasswd.mode) == ("root", "www-data", 0o640)


def test_htpasswd_holds_fast_hashes_of_listed_users_only(host):
    lines = host.file("/etc/nginx/mlflow.htpasswd").content_string.split()
    users = dict(line.split(":", 1) for line in lines)
    assert sorted(users) == ["alice", "mlflow"]  # "stale" (a bcrypt entry) was removed
    assert host.file("/etc/nginx/.mp-stale-user-added").exists
    # A chosen password: SHA-256-crypt at its minimum rounds; a generated one: {SSHA}.
    assert users["alice"].startswith("$5$rounds=1000$")
    assert users["mlflow"].startswith("{SSHA}")


def test_generated_password_kept_on_the_controller_0600():
    path = EPHEMERAL / "credentials" / "mlflow.password"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert len(_generated_password()) == 32


def test_generated_password_never_logged(host):
    password = _generated_password()
    for log in ("/var/log/nginx/access.log", "/var/log/nginx/error.log"):
        assert password not in host.file(log).content_string
    assert password not in host.check_output("journalctl --no-pager -o cat")


def test_provided_certificate_is_served(site):
    # Verified against the test CA for the name: the chain and the SAN are right.
    assert site.request("/health")[:2] == (200, b"OK")
    served = site.peer_certificate_pem().split("-----")[2].replace("\n", "")
    expected = (EPHEMERAL / "tls" / "server.pem").read_text().split("-----")[2].replace("\n", "")
    assert served == expected


def test_health_without_credentials(site):
    assert site.request("/health")[:2] == (200, b"OK")


@pytest.mark.parametrize("auth", [None, ("alice", "wrong"), ("nobody", "x"), ("stale", "x")])
def test_everything_else_needs_credentials(site, auth):
    status, _, headers = site.request("/api/2.0/mlflow/experiments/search", auth=auth)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="MLflow"'


def test_users_with_given_and_generated_passwords_get_in(site):
    for auth in (ALICE, ("mlflow", _generated_password())):
        status, body, _ = site.request("/api/2.0/mlflow/experiments/search?x=1", auth=auth)
        assert status == 200, auth[0]
        assert json.loads(body)["path"] == "/api/2.0/mlflow/experiments/search?x=1"


def test_proxy_headers_reach_the_upstream(site):
    status, body, _ = site.request("/echo", auth=ALICE)
    seen = json.loads(body)["headers"]
    assert status == 200
    assert seen["host"] == NAME  # passed through for MLflow's --allowed-hosts
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-host"] == NAME
    assert seen["x-forwarded-port"] == "443"
    assert seen["x-forwarded-for"] == seen["x-real-ip"]
    assert "authorization" not in seen  # the basic-auth credentials stop at nginx


def test_large_body_streams_through(site):
    payload = os.urandom(64 * 1024 * 1024)
    status, body, _ = site.request(
        "/upload",
        auth=ALICE,
        method="PUT",
        data=payload,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert status == 200
    seen = json.loads(body)
    assert seen["body_bytes"] == len(payload)
    assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()


def test_http_redirects_to_https(site):
    head = site.plain_http("/some/path?q=1")
    assert head[0] == "HTTP/1.1 301 Moved Permanently"
    assert f"Location: https://{NAME}/some/path?q=1" in head


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        (ssl.TLSVersion.TLSv1_1, False),
        (ssl.TLSVersion.TLSv1_2, True),
        (ssl.TLSVersion.TLSv1_3, True),
    ],
)
def test_tls_versions(site, version, accepted):
    assert (site.negotiates(version) is not None) == accepted


def test_mozilla_intermediate_tls_profile(site):
    """sslyze (PyPI, `make setup` puts it in .cache/sslyze) against Mozilla's "intermediate"
    configuration: protocols, ciphers, curves (no X448 or secp521r1), certificate lifespan."""
    sslyze = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / ".cache/sslyze/bin/sslyze"
    proc = subprocess.run(
        [
            str(sslyze),
            "--mozilla_config=intermediate",
            f"--certinfo_ca_file={CA}",
            f"{NAME}:443{{{site.address}}}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert f"{NAME}:443: OK - Compliant." in proc.stdout, proc.stdout[-3000:] + proc.stderr
    supported = next(line for line in proc.stdout.splitlines() if "Supported curves:" in line)
    assert supported.split(":", 1)[1].strip().split(", ") == ["X25519", "secp256r1", "secp384r1"]


def test_long_query_strings_reach_the_upstream(site):
    """MLflow's clients send long query strings (get-history-bulk with many run ids): 39 KB
    pass; nginx's default (8 KB) answered 414."""
    query = "&".join(f"run_id={index:032x}" for index in range(1000))
    assert len(query) > 39_000
    status, body, _ = site.request(f"/api/2.0/mlflow/metrics/get-history-bulk?{query}", auth=ALICE)
    assert status == 200
    assert json.loads(body)["path"].endswith(f"{999:032x}")


def test_hsts_on_every_https_answer(site):
    for path, auth in (
        ("/health", None),
        ("/api/2.0/mlflow/x", ALICE),
        ("/api/2.0/mlflow/x", None),
    ):
        headers = site.request(path, auth=auth)[2]
        assert headers["Strict-Transport-Security"] == "max-age=31536000", path


def test_failed_logins_get_429_while_the_right_password_gets_200(host, site):
    # molecule.yml: nginx_tls_auth_fail_limit 5, rate 1/min (one more failure a minute).
    wrong = login_statuses(host, NAME, "/api/2.0/mlflow/x", ("alice", "wrong password"), 8)
    assert [status for status, _ in wrong[:5]] == [401] * 5
    assert wrong[5:] == [(429, "60")] * 3
    # The right password from the same address, and from the controller, is neither counted
    # nor slowed.
    right = login_statuses(host, NAME, "/api/2.0/mlflow/x", ALICE, 20)
    assert right == [(200, None)] * 20
    assert site.request("/api/2.0/mlflow/x", auth=ALICE)[0] == 200
    assert "limiting requests" in host.file("/var/log/nginx/error.log").content_string


UPSTREAM = "/etc/nginx/mlflow-upstream.conf"


def _ports_answering(site, count=20):
    ports = set()
    for i in range(count):
        status, body, _ = site.request(f"/which?{i}", auth=ALICE)
        assert status == 200
        ports.add(json.loads(body)["port"])
    return ports


def _upstream(host, server, state, **extra):
    """The drain module as role mlflow_server runs it. (ansible-core 2.19's tree callback,
    which testinfra reads, drops `failed`: a failure is a result with a message.)"""
    args = {"path": UPSTREAM, "server": server, "state": state, "drain_timeout": 10, **extra}
    return host.ansible(
        "mlflow_provision.tracking.nginx_upstream_server", json.dumps(args), check=False
    )


def test_requests_are_spread_over_both_upstreams(host, site):
    assert host.file(UPSTREAM).content_string.count(" max_fails=1 fail_timeout=5s;") == 2
    assert _ports_answering(site) == {5001, 5002}


def test_a_drained_upstream_gets_no_new_request_until_it_is_back(host, site):
    workers = host.check_output("pgrep -f 'nginx: worker process$'").split()
    drained = _upstream(host, "127.0.0.1:5001", "drained")
    try:
        assert drained["changed"] and drained["drained"], drained
        assert drained["connections_left"] == 0, drained
        assert "server 127.0.0.1:5001 max_fails=1 fail_timeout=5s down;" in (
            host.file(UPSTREAM).content_string
        )
        # Reloaded: every worker that took requests before has been replaced.
        assert not set(workers) & set(
            host.check_output("pgrep -f 'nginx: worker process$'").split()
        )
        assert _ports_answering(site) == {5002}
        assert not _upstream(host, "127.0.0.1:5001", "drained")["changed"]
    finally:
        back = _upstream(host, "127.0.0.1:5001", "active")
    assert back["changed"] and not back["drained"], back
    assert _ports_answering(site) == {5001, 5002}


def test_the_last_active_upstream_is_never_drained(host, site):
    _upstream(host, "127.0.0.1:5001", "drained")
    try:
        last = _upstream(host, "127.0.0.1:5002", "drained")
        assert not last["changed"] and not last["drained"], last
        assert "only active server" in last["msg"]
        assert _ports_answering(site) == {5002}
    finally:
        _upstream(host, "127.0.0.1:5001", "active")
    assert " down;" not in host.file(UPSTREAM).content_string


def test_no_upstream_left_means_503_with_retry_after(host, site):
    """An upgrade's write window drains every upstream at once (servers, last=true: one
    reload): nginx's 502 becomes a 503 with Retry-After and an error body in MLflow's format,
    which MLflow's client retries."""
    both = ["127.0.0.1:5001", "127.0.0.1:5002"]
    args = {"path": UPSTREAM, "servers": both, "state": "drained", "drain_timeout": 10}
    refused = host.ansible(
        "mlflow_provision.tracking.nginx_upstream_server", json.dumps(args), check=False
    )
    # Without last=true it refuses to drain them all.
    assert not refused["changed"] and "all the active servers" in refused["msg"], refused
    workers = host.check_output("pgrep -f 'nginx: worker process$'").split()
    last = host.ansible(
        "mlflow_provision.tracking.nginx_upstream_server",
        json.dumps({**args, "last": True}),
        check=False,
    )
    try:
        assert last["changed"] and last["drained"], last
        assert last["servers"] == dict.fromkeys(both, True), last
        assert last["connections_left"] == 0, last
        # Reloaded: none of the workers of before takes requests, as many new ones took over.
        after = host.check_output("pgrep -f 'nginx: worker process$'").split()
        assert not set(after) & set(workers) and len(after) == len(workers)
        for path, auth in (("/api/2.0/mlflow/experiments/search", ALICE), ("/health", None)):
            status, body, headers = site.request(path, auth=auth)
            assert status == 503, (path, status, body)
            assert headers["Retry-After"] == "10"
            assert json.loads(body)["error_code"] == "TEMPORARILY_UNAVAILABLE"
            assert headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        _upstream(host, "127.0.0.1:5001", "active")
        _upstream(host, "127.0.0.1:5002", "active")
    assert " down;" not in host.file(UPSTREAM).content_string
    assert _ports_answering(site) == {5001, 5002}


def test_unknown_servers_and_missing_files_change_nothing(host):
    unknown = _upstream(host, "127.0.0.1:5999", "drained")
    assert not unknown["changed"] and "is not listed" in unknown["msg"]
    args = {"path": "/etc/nginx/none.conf", "server": "127.0.0.1:5001", "state": "drained"}
    missing = host.ansible(
        "mlflow_provision.tracking.nginx_upstream_server", json.dumps(args), check=False
    )
    assert not missing["changed"] and "does not exist" in missing["msg"]


def _keepalive_clients(site, seconds, threads=4):
    """Threads that each keep one HTTP/1.1 connection and send back to back for `seconds`,
    without retries (as Java/R clients and OTLP exporters do); a new connection only where the
    server said `Connection: close` or after a failure. Returns (answered, failures, closes)."""

    token = base64.b64encode(f"{ALICE[0]}:{ALICE[1]}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Host": NAME}
    answered, failures, closes, lock = [0], [], [0], threading.Lock()
    stop = time.monotonic() + seconds

    def run(index):
        conn = None
        while time.monotonic() < stop:
            if conn is None:
                conn = http.client.HTTPSConnection(
                    site.address, site.port, timeout=30, context=site.context(check_hostname=False)
                )
            try:
                method, body = ("POST", b"x" * 512) if index % 2 else ("GET", None)
                conn.request(method, "/api/2.0/mlflow/x", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                with lock:
                    answered[0] += response.status == 200
                    if response.status != 200:
                        failures.append(response.status)
                    closes[0] += response.will_close
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    return pool, (answered, failures, closes)


def test_reloads_lose_no_request_of_keepalive_clients(host, site):
    """Every `systemctl reload nginx` (handlers, drains, the ACME hook) first answers with
    `Connection: close` for nginx_tls_reload_close_window seconds: clients that keep their
    connections open and never retry lose nothing. (With Debian's plain reload instead, each
    reload closed one idle connection under its next request per client: 24 of ~1,500 failed,
    RemoteDisconnected or SSLEOFError, in this very test.)"""
    dropin = host.file("/etc/systemd/system/nginx.service.d/mlflow-graceful-reload.conf")
    assert "--flag /run/nginx-mlflow-closing --window 1 " in dropin.content_string
    pool, (answered, failures, closes) = _keepalive_clients(site, seconds=14)
    for _ in range(6):
        host.run_expect([0], "sleep 0.5 && systemctl reload nginx")
    for thread in pool:
        thread.join()
    assert not failures, failures[:5]
    assert answered[0] > 200 and closes[0] > 0, (answered, closes)
    # The flag is gone after each reload: connections are kept again.
    assert not host.file("/run/nginx-mlflow-closing").exists
    assert _keepalive_answer(site, "/api/2.0/mlflow/x", ALICE) == (200, False)


def _keepalive_answer(site, path, auth=None):
    """(status, whether nginx closes the connection) of an HTTP/1.1 request that asks to keep it."""

    headers = {"Host": NAME}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    conn = http.client.HTTPSConnection(
        site.address, site.port, timeout=30, context=site.context(check_hostname=False)
    )
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, response.will_close
    finally:
        conn.close()


def test_while_the_flag_is_up_answers_close_the_connection(host, site):
    host.run_expect([0], "touch /run/nginx-mlflow-closing")
    try:
        assert _keepalive_answer(site, "/health") == (200, True)
        assert _keepalive_answer(site, "/api/2.0/mlflow/x", ALICE) == (200, True)
        # Authentication still applies on the way.
        assert _keepalive_answer(site, "/api/2.0/mlflow/x")[0] == 401
    finally:
        host.run("rm -f /run/nginx-mlflow-closing")
    assert _keepalive_answer(site, "/health") == (200, False)


def _private(site, path, auth=None):
    """(status, body) of a plain-HTTP request to the private port (nginx_tls_private_tls false)."""
    conn = http.client.HTTPConnection(site.address, 5000, timeout=30)
    headers = {"Host": f"{NAME}:5000"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_private_port_asks_the_same_credentials_and_spreads_over_both_upstreams(site):
    """In-network clients get nginx on 5000 (here plain HTTP): the same users as on 443, every
    instance behind it, and MLflow sees the port and scheme they used."""
    # Refused like on 443, and counted by the same failed-login throttle (earlier tests used up
    # this address's allowance: 429 then).
    assert _private(site, "/api/2.0/mlflow/x")[0] in (401, 429)
    assert _private(site, "/api/2.0/mlflow/x", ("alice", "wrong"))[0] in (401, 429)
    assert _private(site, "/health")[0] == 200
    ports = set()
    for i in range(20):
        status, body = _private(site, f"/which?{i}", ALICE)
        assert status == 200
        ports.add(json.loads(body)["port"])
    assert ports == {5001, 5002}
    seen = json.loads(_private(site, "/echo", ALICE)[1])["headers"]
    assert seen["host"] == f"{NAME}:5000"
    assert (seen["x-forwarded-proto"], seen["x-forwarded-port"]) == ("http", "5000")
    assert "authorization" not in seen
