"""Role base's input rules: CA certificates, packages, the firewall, and the lockout check."""

import pytest
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.role_inputs import (
    rule_problems,
)
from inputs_support import (
    NOT_PEM,
    TEST_CA,
    problems,
    read,
)

# Role base on its own (tests/playbooks/base.yml runs it): (variable, value, message after it)
BASE_VALID = {
    "base_firewall_admin_cidrs": ["192.0.2.0/24"],
    "base_firewall_private_cidrs": ["10.0.0.0/8"],
}
BASE_INVALID = [
    ("base_firewall_admin_cidrs", ["10.0.0.300/8"], "[0]: 10.0.0.300/8 is not"),
    ("base_firewall_admin_cidrs", [], ": must list at least one CIDR"),
    ("base_firewall_private_cidrs", ["10.0.0.0/8", "lan"], "[1]: lan is not"),
    ("base_firewall_public_tcp_ports", [443, 70000], "[1]: 70000 is not a TCP port"),
    ("base_firewall_private_tcp_ports", [0], "[0]: 0 is not a TCP port"),
    ("base_firewall_ssh_port", 65536, ": 65536 is not a TCP port"),
    ("base_firewall_ssh_port", "ssh", " is of type"),
    ("base_firewall_enabled", "maybe", " is of type"),
    (
        "base_extra_ca_certificates",
        ["/nonexistent/ca.pem"],
        "[0]: /nonexistent/ca.pem is not a file",
    ),
    ("base_extra_ca_certificates", ["-----BEGIN PRIVATE KEY-----\nx\n"], "[0]: PEM text holds no"),
    ("base_extra_ca_certificates", [TEST_CA, NOT_PEM], f"[1]: {NOT_PEM} holds no PEM CERTIFICATE"),
    (
        "base_extra_ca_certificates",
        "one.pem",
        ': must be a list (YAML sequence), not the string "one.pem"',
    ),
    (
        "base_packages_extra",
        ["htop", "vim;reboot"],
        '[1]: "vim;reboot" is not a Debian package name',
    ),
]


@pytest.mark.parametrize(("variable", "value", "expected"), BASE_INVALID)
def test_base_names_the_variable(variable, value, expected):
    found = problems("base", {**BASE_VALID, variable: value})
    assert any(
        text.startswith(variable + expected) or (variable in text and expected in text)
        for text in found
    ), found


def test_base_reports_every_problem_at_once():
    found = problems("base", {"base_firewall_admin_cidrs": ["x"], "base_firewall_ssh_port": 0})
    assert found == [
        "base_firewall_admin_cidrs[0]: x is not an IPv4/IPv6 address or CIDR (e.g. 203.0.113.0/24)",
        "base_firewall_ssh_port: 0 is not a TCP port (1-65535)",
    ]


def test_base_ca_trust_entry_point_checks_only_the_certificates():
    # The molecule prepare step trusts the CA before anything else: no firewall input needed.
    assert problems("base", {"base_extra_ca_certificates": [TEST_CA]}, "ca_trust") == []
    assert problems("base", {"base_extra_ca_certificates": [NOT_PEM]}, "ca_trust")


@pytest.mark.parametrize(
    ("cidrs", "client", "locked_out"),
    [
        (["192.0.2.0/24"], "192.0.2.77", False),
        (["198.51.100.1", "192.0.2.7/32"], "192.0.2.7", False),
        (["2001:db8::/32"], "2001:db8::5", False),
        (["192.0.2.0/24", "2001:db8::/32"], "203.0.113.9", True),
        (["192.0.2.0/24"], "", False),  # a local or docker connection: no SSH client
    ],
)
def test_base_lockout(cidrs, client, locked_out):
    found = rule_problems(
        "base_lockout", {"base_firewall_admin_cidrs": cidrs, "client": client}, read
    )
    assert bool(found) == locked_out, found
    if locked_out:
        assert f"does not contain {client}" in found[0]
        assert f"(e.g. {client}/32) or set base_firewall_lockout_check: false" in found[0]
