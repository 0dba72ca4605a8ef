"""The shared input rules (plugins/module_utils/input_rules.py), called directly: no playbook."""

import pytest
from ansible_collections.mlflow_provision.tracking.plugins.module_utils import input_rules as r

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n"


def ok(rule, value, *args, **kwargs):
    return rule(value, *args, **kwargs) is None


@pytest.mark.parametrize("value", [1, 22, 443, 65535, "8443"])
def test_tcp_port_accepts(value):
    assert ok(r.tcp_port, value)


@pytest.mark.parametrize("value", [0, 65536, -1, "https", "", None, True, 2.5])
def test_tcp_port_refuses(value):
    assert r.tcp_port(value) == f"{value} is not a TCP port (1-65535)"


def test_in_range_messages():
    assert r.in_range(0, 1) == "0 must be at least 1"
    assert r.in_range(0, 1, None, "seconds") == "0 must be at least 1 (seconds)"
    assert r.in_range(4000, 1, 3650) == "4000 is outside 1-3650"
    assert r.in_range("x", 1, 2) == "x is not a whole number"
    assert ok(r.in_range, 3650, 1, 3650)


@pytest.mark.parametrize("value", ["10.0.0.0/8", "10.0.0.1/8", "192.0.2.7", "2001:db8::/32", "::1"])
def test_network_accepts_addresses_and_cidrs(value):
    assert ok(r.network, value)


@pytest.mark.parametrize("value", ["10.0.0.300/8", "lan", "10.0.0.0/33", "", "1.2.3"])
def test_network_refuses(value):
    assert "is not an IPv4/IPv6 address or CIDR" in r.network(value)


def test_cidr_needs_a_prefix():
    assert ok(r.cidr, "10.42.0.0/16")
    assert r.cidr("10.42.0.1") == '"10.42.0.1" is not a CIDR (e.g. 203.0.113.0/24)'


@pytest.mark.parametrize("value", ["mlflow.example.com", "a", "xn--bcher-kva.example", "host-1."])
def test_dns_name_accepts(value):
    assert ok(r.dns_name, value)


@pytest.mark.parametrize(
    "value", ["-bad.example", "a..b", "has space", "under_score.example", "a" * 64, "*.x.org"]
)
def test_dns_name_refuses(value):
    assert r.dns_name(value) == f'"{value}" is not a DNS name'


def test_dns_name_wildcard_only_when_allowed():
    assert ok(r.dns_name, "*.example.com", wildcard=True)
    assert r.dns_name("a.*.example.com", wildcard=True)


def test_host_is_a_name_or_an_address():
    assert ok(r.host, "db.example.com") and ok(r.host, "10.0.0.5") and ok(r.host, "::1")
    assert r.host("db/evil@x") == '"db/evil@x" is not a DNS name or an IP address'


@pytest.mark.parametrize("value", ["/var/lib/mlflow", "/opt/mlflow-2/x_y.z", "/"])
def test_absolute_path_accepts(value):
    assert ok(r.absolute_path, value)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("var/lib", "must be an absolute path"),
        ("/var/lib mlflow", "may hold letters"),
        ("/var/%h", "may hold letters"),
        ("/var/$HOME", "may hold letters"),
        ("/var/../etc", "no .."),
        ("/var/lib\n", "may hold letters"),
    ],
)
def test_absolute_path_refuses_what_breaks_a_unit_file(value, why):
    assert why in r.absolute_path(value)


@pytest.mark.parametrize("value", ["mlflow.internal", "*.example.com:8443", "10.0.0.*"])
def test_token_accepts(value):
    assert ok(r.token, value)


@pytest.mark.parametrize("value", ["a b", "a,b", "%i", "$X", '"q"', "-x", "", "a;b", "a\tb"])
def test_token_refuses(value):
    assert "is not a safe" in r.token(value)


def test_printable_never_echoes_a_secret():
    assert r.printable("line\nbreak", secret=True) == (
        "must hold printable characters only (no control characters or newlines)"
    )
    assert r.printable("", required=True) == "must not be empty"
    assert ok(r.printable, "p@ss:w/rd%#?&[]= 'q\"%41")


def test_password_rule():
    assert ok(r.password, "x" * 12, 12, "MLflow password rule")
    assert r.password("short", 12, "rule") == "5 characters; needs 12 or more (rule)"
    assert "printable" in r.password("a\x00" * 8, 12, "rule")


@pytest.mark.parametrize("value", ["https://pypi.example/simple", "http://u:p@10.0.0.1:8080/x"])
def test_http_url_accepts(value):
    assert ok(r.http_url, value)


def test_http_url_refuses():
    assert r.http_url("ftp://x") == '"ftp://x" is not an http(s) URL'
    assert r.http_url("https://a b") == '"https://a b" is not an http(s) URL'
    assert r.http_url("http://x", https_only=True) == '"http://x" is not an https:// URL'
    assert r.http_url("s3cret url", secret=True) == "the value is not an http(s) URL"


@pytest.mark.parametrize(
    "value", ["https://app.example.com", "http://localhost:3000", "https://[::1]"]
)
def test_origin_accepts(value):
    assert ok(r.origin, value)


@pytest.mark.parametrize(
    "value", ["https://app.example.com/", "app.example.com", "https://a,b", "*"]
)
def test_origin_refuses(value):
    assert "is not an origin" in r.origin(value)


@pytest.mark.parametrize(
    "value",
    [
        "uvloop==0.23.0",
        "mlflow-oidc-auth",
        "psycopg[binary]>=3.1,<4",
        "boto3 ~= 1.34",
        "pywin32==306; sys_platform == 'win32'",
    ],
)
def test_pip_requirement_accepts(value):
    assert ok(r.pip_requirement, value)


@pytest.mark.parametrize(
    "value",
    [
        "--index-url=http://evil",
        "-r other.txt",
        "./local",
        "pkg\n--trusted-host x",
        "pkg @ http://x y",
    ],
)
def test_pip_requirement_refuses_options_paths_and_lines(value):
    assert "is not a requirement" in r.pip_requirement(value)


def test_debian_package():
    assert ok(r.debian_package, "htop") and ok(r.debian_package, "libc6=2.36-9+deb12u4")
    assert r.debian_package("htop; rm -rf /")


def test_release_version():
    assert ok(r.release_version, "3.17.2", "3.17.2") and ok(r.release_version, "3.0.0rc1", "x")
    assert (
        r.release_version("latest", "3.17.2") == '"latest" is not a release version (e.g. 3.17.2)'
    )
    assert r.version_tuple("3.10.1") < (3, 11)


def test_azure_names():
    assert ok(r.azure_storage_account, "mlflowacct")
    assert "3-24 characters" in r.azure_storage_account("My_Account")
    assert ok(r.azure_container, "mlflow-artifacts")
    assert r.azure_container("bad--name")


def test_account_and_env_names():
    assert ok(r.account_name, "mlflow") and r.account_name("Root")
    assert ok(r.env_name, "HTTP_PROXY") and r.env_name("BAD-NAME")
    assert ok(r.guid, "00000000-0000-0000-0000-000000000000") and r.guid("0000")


def test_pem_text_and_paths(tmp_path):
    files = {"/ca.pem": CERT, "/key.pem": KEY, "/other.txt": "hello"}
    read = files.get
    assert ok(r.pem, CERT, "CERTIFICATE", read)
    assert ok(r.pem, "/ca.pem", "CERTIFICATE", read)
    assert ok(r.pem, "/key.pem", "PRIVATE KEY", read)  # EC, RSA or PKCS#8 keys
    assert r.pem(KEY, "CERTIFICATE", read) == "PEM text holds no CERTIFICATE block"
    assert r.pem("/other.txt", "CERTIFICATE", read) == "/other.txt holds no PEM CERTIFICATE"
    assert r.pem("/missing.pem", "CERTIFICATE", read).startswith(
        "/missing.pem is not a file on the controller"
    )


def test_problems_name_each_variable_and_index():
    p = r.Problems()
    p.each("ports", [443, 0, 70000], r.tcp_port)
    p.check("name", "ok.example", r.dns_name)
    assert p.items == [
        "ports[1]: 0 is not a TCP port (1-65535)",
        "ports[2]: 70000 is not a TCP port (1-65535)",
    ]
    assert r.not_a_string("a,b") == 'must be a list (YAML sequence), not the string "a,b"'
    assert r.duplicates(["a", "b", "a", "a"]) == ["a"]
