"""Each role's defaults and argument spec name the same variables.

A default without a spec entry escapes type checking; a spec entry without a default is an
undefined variable for every inventory that does not set it (this caught a dropped
nginx_tls_credentials_dir default that every test inventory happened to set).
"""

import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

ROLES = sorted(
    p.name for p in (ROOT / "roles").iterdir() if (p / "meta/argument_specs.yml").exists()
)


def _names(path: Path, *keys):
    data = yaml.safe_load(path.read_text()) or {}
    for key in keys:
        data = data[key]
    return set(data)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_spec_agree(role):
    spec = _names(
        ROOT / "roles" / role / "meta/argument_specs.yml", "argument_specs", "main", "options"
    )
    defaults = _names(ROOT / "roles" / role / "defaults/main.yml")
    assert sorted(spec - defaults) == [], "in the argument spec but without a default"
    assert sorted(defaults - spec) == [], "defaulted but not in the argument spec"


def _role_default(variable):
    for role in ROLES:
        defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text())
        if variable in defaults:
            return defaults[variable]
    raise AssertionError(f"{variable} is no role's variable")


def test_playbook_fallbacks_are_the_role_defaults():
    # playbooks/validate.yml wires the roles before their defaults are loaded, with
    # `<var> | default(<literal>)`: each literal must be what the role itself defaults to.
    text = (ROOT / "playbooks/validate.yml").read_text()
    found = re.findall(
        r"\b((?:mlflow_server|nginx_tls|mysql|base)_\w+) \| default\(([^()]+)\)", text
    )
    assert len(found) >= 6, found
    for variable, literal in found:
        assert yaml.safe_load(literal) == _role_default(variable), (variable, literal)
