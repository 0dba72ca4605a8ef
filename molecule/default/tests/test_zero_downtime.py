"""Zero-downtime serving: two MLflow instances behind nginx, restarted one at a time.

Each test runs a mixed load of raw HTTPS requests through nginx without client retries
(mp_load: metric POSTs, searches, artifact uploads and downloads; two threads open a connection
per request, two keep theirs open across requests as most non-Python clients do)
while something happens to the server, and counts every failed request. The tests run in file
order and leave the server healthy for the next one.
"""

import contextlib
import json
import os
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from mp_https import Endpoint, container_address
from mp_load import Load
from mp_playbook import run_playbook

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
NAME = "mp-stack"
PORTS = (5001, 5002)
UPSTREAM = "/etc/nginx/mlflow-upstream.conf"


def _cafile(host):
    """The self-signed certificate is its own trust anchor: take it from the host."""
    cafile = EPHEMERAL / "mp-stack-server.pem"
    cafile.write_text(host.file("/etc/ssl/certs/mlflow-provision.crt").content_string)
    return cafile


@pytest.fixture(scope="module")
def site(host):
    return Endpoint(container_address(NAME), NAME, _cafile(host))


@pytest.fixture(scope="module")
def auth():
    return ("mlflow", (EPHEMERAL / "credentials" / "mlflow.password").read_text().strip())


def _started(host, port):
    """The monotonic start time of an instance's main process (changes on every restart)."""
    return host.check_output(
        f"systemctl show -p ExecMainStartTimestampMonotonic --value mlflow@{port}.service"
    )


def _under_load(site, auth, action, private=False):
    """Run `action` under load (a few seconds of load before and after); (its result, load).
    With `private`, a second load goes to nginx's private port 5000 (Host header with the port,
    as in-network clients send it); the load returned is then a list of both."""
    with contextlib.ExitStack() as stack:
        loads = [stack.enter_context(Load(site, auth, keepalive=2))]
        if private:
            port = Endpoint(site.address, site.name, site.cafile, port=5000)
            loads.append(
                stack.enter_context(
                    Load(port, auth, threads=2, keepalive=1, host_header=f"{NAME}:5000")
                )
            )
        time.sleep(3)
        result = action()
        time.sleep(3)
    return result, (loads if private else loads[0])


def _assert_no_failed_request(load):
    summary = load.summary()
    assert summary["failed"] == 0, summary
    # Every kind of request was made, many times.
    assert all(ok >= 20 for ok, _ in summary["by_op"].values()), summary
    assert len(summary["by_op"]) == 4, summary


def _all_healthy(host, site):
    for port in PORTS:
        assert host.run(f"systemctl is-active mlflow@{port}.service").stdout.strip() == "active"
        assert host.run(f"curl -sf http://127.0.0.1:{port}/health").stdout == "OK"
    assert site.request("/health")[:2] == (200, b"OK")
    assert " down;" not in host.file(UPSTREAM).content_string


def test_instances_are_units_named_by_their_port(host):
    assert host.service("mlflow.target").is_enabled
    for port in PORTS:
        assert host.service(f"mlflow@{port}.service").is_enabled
        assert host.service(f"mlflow@{port}.service").is_running
        cmdline = host.check_output(
            f"ps -o args= -p $(systemctl show -p MainPID --value mlflow@{port}.service)"
        )
        assert f"--port {port} --workers 1" in cmdline
    upstream = host.file(UPSTREAM).content_string
    for port in PORTS:
        assert f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" in upstream
    assert f"include {UPSTREAM};" in host.file("/etc/nginx/nginx.conf").content_string


def test_rolling_restart_fails_no_request(host, site, auth):
    before = {port: _started(host, port) for port in PORTS}
    (rc, out), loads = _under_load(site, auth, lambda: run_playbook("restart.yml"), private=True)
    assert rc == 0, out[-3000:]
    assert all(_started(host, port) != before[port] for port in PORTS), (
        "not every instance restarted"
    )
    for load in loads:  # 443, and the private port for in-network clients
        _assert_no_failed_request(load)
    _all_healthy(host, site)


def test_config_change_rolls_without_a_failed_request(host, site, auth):
    before = {port: _started(host, port) for port in PORTS}
    (rc, out), load = _under_load(
        site, auth, lambda: run_playbook("deploy.yml", "-e", "mlflow_server_log_level=WARNING")
    )
    assert rc == 0, out[-3000:]
    assert "level: WARNING" in host.file("/etc/mlflow/logging.yaml").content_string
    assert all(_started(host, port) != before[port] for port in PORTS), (
        "not every instance restarted"
    )
    _assert_no_failed_request(load)
    _all_healthy(host, site)
    # The files the instances run on are now the last proven healthy.
    assert host.file("/etc/mlflow/last-good/logging.yaml").content_string == (
        host.file("/etc/mlflow/logging.yaml").content_string
    )
    assert host.file("/etc/mlflow/last-good/mlflow.env").mode == 0o600


def test_rejected_option_is_rolled_back_while_the_other_instance_serves(host, site, auth):
    unit = "/etc/systemd/system/mlflow@.service"
    good = host.file(unit).content_string
    second_before = _started(host, 5002)
    (rc, out), load = _under_load(
        site,
        auth,
        lambda: run_playbook(
            "deploy.yml",
            "-e",
            json.dumps(
                {
                    "mlflow_server_log_level": "WARNING",
                    "mlflow_server_extra_args": ["--no-such-option"],
                }
            ),
        ),
    )
    assert rc != 0, out[-3000:]
    # The play names the problem: the instance, and what the server said about the option.
    assert "The new configuration failed the health gate of mlflow@5001" in out
    assert "No such option" in out and "--no-such-option" in out
    assert "The previous files were restored" in out
    assert host.file(unit).content_string == good
    assert "--no-such-option" not in host.check_output("ps -eo args | grep '[m]lflow server'")
    assert _started(host, 5002) == second_before, "the second instance was touched"
    _assert_no_failed_request(load)
    _all_healthy(host, site)


def _served_pem(site):
    """The certificate nginx serves, whoever signed it."""
    ctx = site.context(check_hostname=False, verify_mode=ssl.CERT_NONE)
    with site.connect(ctx) as tls:
        return ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True))


def test_a_port_clients_cannot_reach_fails_the_deploy_and_nginx_goes_back(host, site):
    """Past the preflight (the firewall's list opens the port), something on the way still drops
    it, as a cloud's network rules would: a table of our own here. The deploy's last gate cannot
    reach /health from the controller, puts nginx's last good configuration back and fails."""
    drop = (
        "table inet mp_test { chain input { type filter hook input priority -10;"
        " tcp dport 8444 drop; }; }"
    )
    planted = host.run(f"echo '{drop}' > /root/mp-drop.nft && nft -f /root/mp-drop.nft")
    assert planted.rc == 0, planted.stderr
    try:
        rc, out = run_playbook(
            "deploy.yml",
            "-e",
            json.dumps(
                {"nginx_tls_https_port": 8444, "base_firewall_public_tcp_ports": [80, 443, 8444]}
            ),
        )
        assert rc != 0, out[-3000:]
        assert (
            f"Clients cannot reach MLflow through nginx: https://{site.address}:8444/health" in out
        )
        assert "nginx is back on the configuration that last passed this check" in out
        conf = host.file("/etc/nginx/nginx.conf").content_string
        assert "listen 443 ssl" in conf and "8444" not in conf
        assert site.request("/health")[0] == 200
    finally:
        host.run("nft delete table inet mp_test")
    # The host serves another certificate, as a rebuilt host would have made: the deploy puts
    # back the one kept on the controller, which its clients trust.
    served = _served_pem(site)
    other = host.run(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30"
        " -subj /CN=rebuilt -keyout /etc/ssl/private/mlflow-provision.key"
        " -out /etc/ssl/certs/mlflow-provision.crt && systemctl reload nginx"
    )
    assert other.rc == 0, other.stderr
    # nginx's old workers finish first: the new certificate is served within moments.
    deadline = time.monotonic() + 30
    while _served_pem(site) == served and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _served_pem(site) != served
    rc, out = run_playbook("deploy.yml")
    assert rc == 0, out[-3000:]
    _all_healthy(host, site)
    assert _served_pem(site) == served
    kept = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials"
    assert (kept / "server.crt").read_text() == host.file(
        "/etc/ssl/certs/mlflow-provision.crt"
    ).content_string
    assert (kept / "server.key").stat().st_mode & 0o777 == 0o600


def test_restart_stops_with_the_journal_when_an_instance_does_not_come_back(host, site, auth):
    dropin = "/etc/systemd/system/mlflow@5001.service.d"
    second_before = _started(host, 5002)
    host.run_expect(
        [0],
        f"mkdir -p {dropin} && printf '[Service]\\nExecStart=\\nExecStart=/bin/sh -c \"echo"
        f" broken by the test; exit 3\"\\n' > {dropin}/broken.conf && systemctl daemon-reload",
    )
    try:
        (rc, out), load = _under_load(site, auth, lambda: run_playbook("restart.yml"))
    finally:
        host.run_expect([0], f"rm -rf {dropin} && systemctl daemon-reload")
    assert rc != 0
    assert "mlflow@5001.service exited with status 3" in out
    assert "broken by the test" in out  # the journal excerpt
    assert _started(host, 5002) == second_before, "the play went on to the next instance"
    _assert_no_failed_request(load)
    # Back in rotation, and back to health by itself once it can start again.
    assert " down;" not in host.file(UPSTREAM).content_string
    rc, out = run_playbook("restart.yml")
    assert rc == 0, out[-3000:]
    _all_healthy(host, site)


def _back_after(host, port, old_pid):
    """Seconds until the instance has a new main process that answers /health (at most 60)."""
    began = time.monotonic()
    while time.monotonic() - began < 60:
        pid = host.check_output(f"systemctl show -p MainPID --value mlflow@{port}.service")
        if (
            pid not in ("0", old_pid)
            and host.run(f"curl -sf http://127.0.0.1:{port}/health").rc == 0
        ):
            return time.monotonic() - began
        time.sleep(0.2)
    return float("inf")


def test_killed_main_process_comes_back_without_a_failed_request(host, site, auth):
    """SIGKILL of the instance's main process (`mlflow server`): systemd stops the rest of the
    instance gracefully (uvicorn finishes its requests) and starts it again."""
    pid = host.check_output("systemctl show -p MainPID --value mlflow@5001.service")

    def kill():
        host.run_expect([0], f"kill -9 {pid}")
        return _back_after(host, 5001, pid)

    seconds, load = _under_load(site, auth, kill)
    # Back by itself (how fast is a figure of make bench, not a test: ~9 s there).
    assert seconds != float("inf"), "not back within 60 s"
    _assert_no_failed_request(load)
    _all_healthy(host, site)


def test_killed_instance_loses_only_the_requests_it_was_serving(host, site, auth):
    """SIGKILL of every process of the instance, uvicorn included: the requests it was serving
    die with it. nginx sends a GET that got no answer yet on to the other instance; a POST or
    PUT that reached the dead one may have taken effect, and nginx never replays it (a metric
    logged twice): 502, which nginx answers as 503 with Retry-After (role nginx_tls). A response
    already under way (a download) is cut short. Those few, at most one per client thread and
    all around the moment of the kill, are the only failures; never one for a GET. The instance
    comes back by itself."""
    pid = host.check_output("systemctl show -p MainPID --value mlflow@5001.service")
    killed = []

    def kill():
        killed.append(time.monotonic())
        host.run_expect([0], "systemctl kill --kill-whom=all --signal=SIGKILL mlflow@5001.service")
        return _back_after(host, 5001, pid)

    seconds, load = _under_load(site, auth, kill)
    assert seconds != float("inf"), "not back within 60 s"
    failed = load.failures
    assert len(failed) <= load.threads, load.summary()
    for at, op, status, _ in failed:
        unanswered_write = op in ("POST log-metric", "PUT artifact") and status in (502, 503)
        cut_short = str(status).startswith("IncompleteRead")
        assert unanswered_write or cut_short, load.summary()
        # At the kill: the requests it was serving (a loaded CI host may record them late).
        assert abs(at - killed[0]) < 5, load.summary()
    _all_healthy(host, site)


def test_host_restart_brings_everything_back_healthy(host):
    """A reboot (here: the container's restart) starts the database, both instances and nginx
    in order, with nothing run by hand."""
    subprocess.run(["docker", "restart", NAME], check=True, capture_output=True, timeout=120)
    began = time.monotonic()
    while time.monotonic() - began < 120:
        # The container may come back with another address on the network.
        site = Endpoint(container_address(NAME), NAME, _cafile(host))
        try:
            if site.request("/health")[:2] == (200, b"OK") and all(
                host.run(f"curl -sf http://127.0.0.1:{port}/health").rc == 0 for port in PORTS
            ):
                break
        except OSError:
            pass
        time.sleep(1)
    _all_healthy(host, site)
    assert host.service("mlflow.target").is_running
