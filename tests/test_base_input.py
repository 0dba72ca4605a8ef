"""Bad input for role base fails before any change, naming the variable."""

import re

import pytest
from conftest import ROOT

VALID = {
    "base_firewall_admin_cidrs": ["192.0.2.0/24"],
    "base_firewall_private_cidrs": ["10.0.0.0/8"],
}
NOT_PEM = str(ROOT / "pyproject.toml")


def _changed_zero(run):
    recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+).*failed=(\d+)", run.output)
    assert recap, run
    return recap.group(1) == "0" and recap.group(2) == "1"


def test_invalid_value_fails_before_any_task(run_playbook):
    # The rules are unit-tested (test_inputs_base.py); here the role itself stops first.
    run = run_playbook(
        "tests/playbooks/base.yml",
        {**VALID, "base_firewall_admin_cidrs": ["x"], "base_extra_ca_certificates": [NOT_PEM]},
    )
    assert run.rc != 0, run
    assert "base_firewall_admin_cidrs[0]: x is not" in run.output, run
    assert f"base_extra_ca_certificates[0]: {NOT_PEM} holds no PEM CERTIFICATE" in run.output, run
    assert "Traceback" not in run.output
    assert "Gather the facts this role needs" not in run.output, run
    assert _changed_zero(run), run


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"base_firewall_ssh_port": "ssh"}, "Validating arguments against arg spec"),
        ({"base_firewall_admin_cidrs": "192.0.2.0/24"}, "must be a list (YAML sequence)"),
    ],
)
def test_wrong_type_fails_before_any_task(run_playbook, override, expected):
    run = run_playbook("tests/playbooks/base.yml", {**VALID, **override})
    assert run.rc != 0
    assert expected in run.output, run
    assert next(iter(override)) in run.output, run
    assert "Traceback" not in run.output
    assert _changed_zero(run), run


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
