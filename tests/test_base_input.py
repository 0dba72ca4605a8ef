"""Bad input for role base fails before any change, naming the variable."""

import re

import pytest
from conftest import ROOT

VALID = {
    "base_firewall_admin_cidrs": ["192.0.2.0/24"],
    "base_firewall_private_cidrs": ["10.0.0.0/8"],
}
TEST_CA = str(ROOT / "molecule/base/files/test-ca.pem")
NOT_PEM = str(ROOT / "pyproject.toml")


def _changed_zero(run):
    recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+).*failed=(\d+)", run.output)
    assert recap, run
    return recap.group(1) == "0" and recap.group(2) == "1"


# (variable, bad value, what the message must say after "<variable>")
INVALID = [
    ("base_firewall_admin_cidrs", ["10.0.0.300/8"], "[0]: 10.0.0.300/8 is not"),
    ("base_firewall_admin_cidrs", [], ": must list at least one CIDR"),
    ("base_firewall_private_cidrs", ["10.0.0.0/8", "lan"], "[1]: lan is not"),
    ("base_firewall_public_tcp_ports", [443, 70000], "[1]: 70000 is not a TCP port"),
    ("base_firewall_private_tcp_ports", [0], "[0]: 0 is not a TCP port"),
    ("base_firewall_ssh_port", 65536, ": 65536 is not a TCP port"),
    (
        "base_extra_ca_certificates",
        ["/nonexistent/ca.pem"],
        "[0]: /nonexistent/ca.pem is not a file",
    ),
    ("base_extra_ca_certificates", ["-----BEGIN PRIVATE KEY-----\nx\n"], "[0]: PEM text holds no"),
    ("base_extra_ca_certificates", [TEST_CA, NOT_PEM], f"[1]: {NOT_PEM} holds no PEM certificate"),
]


@pytest.mark.parametrize(("variable", "value", "expected"), INVALID)
def test_invalid_value_fails_first(run_playbook, variable, value, expected):
    run = run_playbook("tests/playbooks/base.yml", {**VALID, variable: value})
    assert run.rc != 0, run
    assert variable + expected in run.output, run
    assert "Traceback" not in run.output
    # The first role task after argument validation failed: nothing ran, nothing changed.
    assert "Gather the facts this role needs" not in run.output, run
    assert _changed_zero(run), run


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"base_firewall_ssh_port": "ssh"}, "base_firewall_ssh_port"),
        ({"base_firewall_enabled": "maybe"}, "base_firewall_enabled"),
        ({"base_firewall_public_tcp_ports": ["https"]}, "base_firewall_public_tcp_ports"),
        ({"base_extra_ca_certificates": "one.pem"}, None),
        ({"base_firewall_admin_cidrs": "192.0.2.0/24"}, None),
    ],
)
def test_wrong_type_fails_in_argument_spec(run_playbook, override, variable):
    run = run_playbook("tests/playbooks/base.yml", {**VALID, **override})
    if variable is None:
        # The argument spec lets a string pass for a list but leaves it a string.
        name, value = next(iter(override.items()))
        assert f'{name}: must be a list (YAML sequence), not the string "{value}"' in run.output, (
            run
        )
    else:
        assert "Validating arguments against arg spec" in run.output
        assert variable in run.output, run
    assert run.rc != 0
    assert "Traceback" not in run.output
    assert _changed_zero(run), run


def test_all_problems_reported_at_once(run_playbook):
    run = run_playbook(
        "tests/playbooks/base.yml",
        {"base_firewall_admin_cidrs": ["x"], "base_firewall_ssh_port": 0},
    )
    assert "base_firewall_admin_cidrs[0]: x is not" in run.output
    assert "base_firewall_ssh_port: 0 is not a TCP port" in run.output


def test_lockout_check_refuses_foreign_controller(run_playbook):
    run = run_playbook(
        "tests/playbooks/base_preflight.yml",
        {"base_firewall_admin_cidrs": ["192.0.2.0/24", "2001:db8::/32"]},
        env={"SSH_CLIENT": "203.0.113.9 50022 22"},
    )
    assert run.rc != 0, run
    assert "does not contain" in run.output and "203.0.113.9" in run.output, run
    assert "base_firewall_lockout_check: false" in run.output


@pytest.mark.parametrize(
    ("cidrs", "client"),
    [
        (["192.0.2.0/24"], "192.0.2.77 50022 22"),
        (["198.51.100.1", "192.0.2.7/32"], "192.0.2.7 50022 22"),
        (["2001:db8::/32"], "2001:db8::5 50022 22"),
    ],
)
def test_lockout_check_passes_when_controller_is_admin(run_playbook, cidrs, client):
    run = run_playbook(
        "tests/playbooks/base_preflight.yml",
        {"base_firewall_admin_cidrs": cidrs},
        env={"SSH_CLIENT": client},
    )
    assert run.rc == 0, run
    assert "does not contain" not in run.output, run


def test_lockout_check_can_be_disabled(run_playbook):
    run = run_playbook(
        "tests/playbooks/base_preflight.yml",
        {"base_firewall_admin_cidrs": ["192.0.2.0/24"], "base_firewall_lockout_check": False},
        env={"SSH_CLIENT": "203.0.113.9 50022 22"},
    )
    assert run.rc == 0, run
