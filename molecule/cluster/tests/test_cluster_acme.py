"""One ACME certificate for the cluster's name on both hosts (mode acme, several hosts): the
first host asks Pebble for all, the CA's HTTP-01 check may reach either host through the
balancer's port 80, the key is the same on both and never leaves them in clear, and a renewal
reaches the other host through its own timer, without Ansible, under load. Runs after
test_cluster.py (file order): the issuer was killed and came back there, maybe at another
address, which the other host's nginx must find again."""

import http.client
import shlex
import time

from conftest import HOSTS, NAME
from cryptography import x509
from mp_figures import figure
from mp_https import Endpoint, container_address
from mp_load import Load

testinfra_hosts = ["ansible://mp-pgmlflow"]

ISSUER, FOLLOWER = HOSTS
ADMIN = ("admin", "pg adm1n p@ss%w")
CERT = "/etc/ssl/certs/mlflow-provision.crt"
KEY = "/etc/ssl/private/mlflow-provision.key"
BASE = "/var/lib/dehydrated"
UNIT = "mlflow-acme-renew"


def _served(endpoint):
    return x509.load_pem_x509_certificate(endpoint.peer_certificate_pem().encode())


def _direct(name, balancer):
    return Endpoint(container_address(name), NAME, balancer.cafile)


def _http_get(address, path):
    """(status, body) of a plain-HTTP GET for the cluster's name."""
    conn = http.client.HTTPConnection(address, 80, timeout=15)
    try:
        conn.request("GET", path, headers={"Host": NAME})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def _run_unit(host):
    """The renewal unit's service, as its timer starts it: (rc, its journal lines)."""
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    result = host.run(f"systemctl start {UNIT}.service")
    journal = host.check_output(
        f"journalctl -u {UNIT}.service --since {shlex.quote(since)} -o cat --no-pager"
    )
    return result.rc, journal


def test_both_hosts_serve_one_certificate_from_the_ca_and_one_key(hosts, balancer):
    served = {name: _served(_direct(name, balancer)) for name in HOSTS}
    assert served[ISSUER].serial_number == served[FOLLOWER].serial_number
    assert _served(balancer).serial_number == served[ISSUER].serial_number
    issuer = served[ISSUER].issuer.rfc4514_string()
    assert "Pebble Intermediate CA" in issuer, issuer
    keys = {name: hosts[name].check_output(f"sha256sum {KEY} | cut -c1-64") for name in HOSTS}
    assert keys[ISSUER] == keys[FOLLOWER]
    for name in HOSTS:
        key = hosts[name].file(KEY)
        assert (key.user, key.group, key.mode) == ("root", "root", 0o600), name
    # One ACME account and one renewal with the CA: the other host has no dehydrated at all.
    assert hosts[ISSUER].package("dehydrated").is_installed
    assert not hosts[FOLLOWER].package("dehydrated").is_installed
    assert (
        "PRIVATE_KEY_RENEW=no"
        in hosts[ISSUER].file("/etc/dehydrated/conf.d/mlflow-provision.sh").content_string
    )


def test_a_challenge_reaches_the_issuer_through_either_host(hosts, balancer):
    token = f"mp-cluster-{int(time.time())}"
    hosts[ISSUER].run_expect([0], f"echo {token}-body > {BASE}/acme-challenges/{token}")
    try:
        path = f"/.well-known/acme-challenge/{token}"
        for name in HOSTS:
            assert _http_get(container_address(name), path) == (200, f"{token}-body\n".encode())
        # Through the balancer (round robin: both hosts), as the CA comes.
        for _ in range(4):
            assert _http_get(container_address("mp-pg"), path)[0] == 200
        assert _http_get(container_address(FOLLOWER), path + "-missing")[0] == 404
    finally:
        hosts[ISSUER].run(f"rm -f {BASE}/acme-challenges/{token}")
    # The issuer publishes its certificate (public) for the other host, never the key.
    status, body = _http_get(
        container_address(ISSUER), "/.well-known/mlflow-provision/certificate.pem"
    )
    assert status == 200 and body.startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY" not in body


def test_a_renewal_reaches_the_other_host_by_its_own_timer_under_load(hosts, balancer):
    issuer, follower = hosts[ISSUER], hosts[FOLLOWER]
    before = _served(balancer).serial_number
    key_before = issuer.check_output(f"sha256sum {KEY}")
    # dehydrated's per-certificate config: due now.
    issuer.run_expect([0], f"echo RENEW_DAYS=36500 > {BASE}/certs/{NAME}/config")
    try:
        with Load(balancer, ADMIN, threads=4, keepalive=2, max_seconds=180) as load:
            time.sleep(2)
            started = time.monotonic()
            rc, journal = _run_unit(issuer)
            issuer_seconds = round(time.monotonic() - started, 1)
            assert rc == 0, journal
            print(journal)  # the closing note quotes these lines
            assert "Installed the certificate for mlflow.cluster.test" in journal
            renewed = _served(_direct(ISSUER, balancer)).serial_number
            assert renewed != before
            # The key stays: the other host has it.
            assert issuer.check_output(f"sha256sum {KEY}") == key_before
            assert _served(_direct(FOLLOWER, balancer)).serial_number == before
            started = time.monotonic()
            rc, follower_journal = _run_unit(follower)
            follower_seconds = round(time.monotonic() - started, 1)
            assert rc == 0, follower_journal
            print(follower_journal)
            assert "Installed the issuer's certificate" in follower_journal
            time.sleep(2)
    finally:
        issuer.run(f"rm -f {BASE}/certs/{NAME}/config")
    assert _served(_direct(FOLLOWER, balancer)).serial_number == renewed
    summary = load.summary()
    figure(
        "cluster",
        "acme_renewal",
        {
            "issuer_seconds": issuer_seconds,
            "follower_seconds": follower_seconds,
            "requests": summary["requests"],
            "failed": summary["failed"],
            "follower_journal": follower_journal.splitlines()[-2:],
        },
    )
    assert summary["failed"] == 0 and summary["requests"] > 20, summary
    # Once more: nothing to do, nginx not reloaded.
    rc, journal = _run_unit(follower)
    assert rc == 0 and "up to date" in journal, journal
    timer = follower.check_output(
        f"systemctl is-enabled {UNIT}.timer; systemctl is-active {UNIT}.timer"
    )
    assert timer.split() == ["enabled", "active"], timer
