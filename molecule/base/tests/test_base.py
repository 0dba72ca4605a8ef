"""Behaviour of role `base` on a converged Debian 12 host."""

import os
import re
import time

import pytest
from mp_https import connects, container_address

PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----")
HERE = os.path.dirname(__file__)
TEST_CA = os.path.join(HERE, "..", "files", "test-ca.pem")


def _bodies(text):
    return {re.sub(r"\s", "", pem) for pem in PEM_RE.findall(text)}


@pytest.mark.parametrize("name", ["acl", "ca-certificates", "curl", "sudo", "nftables", "jq"])
def test_packages_installed(host, name):
    assert host.package(name).is_installed


def test_test_ca_in_system_bundle(host):
    bundle = host.file("/etc/ssl/certs/ca-certificates.crt").content_string
    with open(TEST_CA) as f:
        assert _bodies(f.read()) <= _bodies(bundle)


def test_test_ca_in_hashed_directory(host):
    # Python's ssl module on Debian finds CAs through the hashed directory, not the bundle.
    host.run_expect([0], "cp /usr/local/share/ca-certificates/mlflow-provision/*.crt /tmp/")
    with open(TEST_CA) as f:
        pem = f.read()
    cmd = host.run(
        "printf '%s' {} | openssl verify -no-CAfile -CApath /etc/ssl/certs".format(
            "'" + pem.replace("'", "") + "'"
        )
    )
    assert cmd.rc == 0, cmd.stderr
    assert cmd.stdout.strip().endswith("OK")


def test_ca_files_owned_by_root(host):
    d = host.file("/usr/local/share/ca-certificates/mlflow-provision")
    assert d.is_directory and d.user == "root" and d.mode == 0o755
    files = host.run(f"find {d.path} -name '*.crt'").stdout.split()
    assert files, "no extra CA installed"
    for path in files:
        f = host.file(path)
        assert f.user == "root" and f.group == "root" and f.mode == 0o644


def _controller_extra_certs(host):
    """Certificates the controller trusts that Debian's own store does not."""
    # The same choice as .config/molecule/config.yml makes for base_extra_ca_certificates.
    cafile = os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
    if not os.path.isfile(cafile):
        return set()
    with open(cafile) as f:
        controller = _bodies(f.read())
    distro = _bodies(host.run("cat /usr/share/ca-certificates/mozilla/*.crt").stdout)
    return controller - distro


def test_controller_bundle_trusted(host):
    bundle = _bodies(host.file("/etc/ssl/certs/ca-certificates.crt").content_string)
    assert _controller_extra_certs(host) <= bundle


def test_https_to_package_index(host):
    ok = host.run("curl -sS -o /dev/null -w '%{http_code}' https://pypi.org/simple/pip/")
    assert ok.stdout == "200", ok.stderr
    # Python's ssl (hashed directory) must work too: pip and uv in later roles depend on it.
    py = host.run(
        'python3 -c "import urllib.request;'
        "print(urllib.request.urlopen('https://pypi.org/simple/pip/').status)\""
    )
    assert py.stdout.strip() == "200", py.stderr
    # Because of the extra CA: with the distribution store alone, the same request fails
    # whenever the controller sits behind a CA the distribution does not know.
    host.run_expect([0], "cat /usr/share/ca-certificates/mozilla/*.crt > /tmp/distro-only.pem")
    host.run_expect([0], "mkdir -p /tmp/empty-capath")
    bare = host.run(
        "curl -sS -o /dev/null --cacert /tmp/distro-only.pem --capath /tmp/empty-capath"
        " https://pypi.org/simple/pip/"
    )
    if _controller_extra_certs(host):
        assert bare.rc == 60, "request succeeded without the extra CA"
    else:
        assert bare.rc == 0, bare.stderr


def test_nftables_service(host):
    svc = host.service("nftables")
    assert svc.is_enabled
    assert svc.is_running or host.run("systemctl is-active nftables").stdout.strip() == "active"


def test_nftables_config_mode(host):
    f = host.file("/etc/nftables.conf")
    assert f.user == "root" and f.mode == 0o755
    # Never the whole ruleset: Docker's and others' tables must survive a reload.
    assert not re.search(r"^\s*flush\s+ruleset", f.content_string, re.M)


def test_firewall_rules_exact(host):
    out = host.check_output("nft list table inet mlflow_provision")
    lines = [re.sub(r"\s+", " ", line.strip()) for line in out.splitlines()]
    lines = [line for line in lines if line]
    assert lines == [
        "table inet mlflow_provision {",
        "set admin_v4 {",
        "type ipv4_addr",
        "flags interval",
        "elements = { 192.0.2.0/24 }",
        "}",
        "set admin_v6 {",
        "type ipv6_addr",
        "flags interval",
        "elements = { 2001:db8::/32 }",
        "}",
        "set private_v4 {",
        "type ipv4_addr",
        "flags interval",
        "elements = { 10.99.0.5, 198.51.100.0/24 }",
        "}",
        "chain input {",
        "type filter hook input priority filter; policy drop;",
        "ct state established,related accept",
        "ct state invalid drop",
        'iif "lo" accept',
        "meta l4proto icmp accept",
        "meta l4proto ipv6-icmp accept",
        'ip saddr @admin_v4 tcp dport 22 accept comment "ssh from admin networks"',
        'ip6 saddr @admin_v6 tcp dport 22 accept comment "ssh from admin networks"',
        'tcp dport { 80, 443 } accept comment "public"',
        'ip saddr @private_v4 tcp dport 5000 accept comment "private networks only"',
        "}",
        "}",
    ]


@pytest.fixture(scope="module")
def listeners(host):
    """Listeners on 22, 80, 443 and 5000 inside the test host, for the duration of the test."""
    units = []
    for port in (22, 80, 443, 5000):
        unit = f"mp-listen-{port}"
        host.run(f"systemctl stop {unit}")
        host.run_expect(
            [0],
            f"systemd-run --unit {unit} python3 -m http.server --bind 0.0.0.0 {port}",
        )
        units.append(unit)
    for port in (22, 80, 443, 5000):
        for _ in range(50):
            if host.run(f"ss -Htln 'sport = :{port}'").stdout.strip():
                break
            time.sleep(0.1)
    yield
    for unit in units:
        host.run(f"systemctl stop {unit}")


def test_firewall_behaviour_from_outside(host, listeners):
    # The controller reaches the test host through the scenario's Docker network; its address
    # is in neither the admin nor the private ranges of this scenario.
    ip = container_address(host.backend.get_hostname())
    assert connects(ip, 80), "80 must be open to everyone"
    assert connects(ip, 443), "443 must be open to everyone"
    assert not connects(ip, 5000), "5000 must be closed outside base_firewall_private_cidrs"
    assert not connects(ip, 22), "22 must be closed outside base_firewall_admin_cidrs"
    # From the host itself (loopback) the private port stays usable.
    assert host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:5000/").stdout == "200"
