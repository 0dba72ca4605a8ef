"""What the input-rule tests share (tests/test_inputs_<role>.py): valid values, and the rules
called the way the action plugin validate_input calls them.

No playbook runs (a few in test_deploy_input.py prove the wiring): the argument spec of each
role is read from roles/<role>/meta/argument_specs.yml, the values go through its type checks
and then through plugins/module_utils/inputs_<role>.py. Milliseconds per case.
"""

from pathlib import Path

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.role_inputs import (
    role_problems,
    rule_problems,
)
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.wiring import (
    DEPLOY_CHECK_INPUTS,
    INPUTS,
    OUTPUTS,
    deploy_check_values,
    wire,
)
from conftest import ROOT
from role_usage import spec_options

MISSING = "/nonexistent/server.pem"
NOT_PEM = str(ROOT / "pyproject.toml")
TEST_CA = str(ROOT / "molecule/base/files/test-ca.pem")
AZ = "mlflow_server_azure_"
AUTH = {"mlflow_server_auth_enabled": True, "mlflow_server_auth_admin_password": "adm1n password"}
ALICE = {"name": "alice", "password": "alice password 1"}
AZURE = {"mlflow_server_artifact_store": "azure_blob", AZ + "storage_account": "mlflowacct"}
CONN = (
    "DefaultEndpointsProtocol=https;AccountName=mlflowacct;AccountKey=a2V5;"
    "EndpointSuffix=core.windows.net"
)
# What playbooks/deploy.yml checks on a host with the MySQL backend on the host itself.
VALID = {
    "base_firewall_admin_cidrs": ["192.0.2.0/24"],
    "mlflow_server_backend": "mysql",
    "mysql_mlflow_password": "p@ss:w/rd%#?&[]= ",
    "mlflow_server_db_password": "p@ss:w/rd%#?&[]= ",
}
ROLES = ["base", "mysql", "mlflow_server", "nginx_tls"]
ACME = {
    "nginx_tls_certificate_mode": "acme",
    "nginx_tls_server_names": ["mlflow.example.com"],
    "nginx_tls_acme_email": "mlops@example.com",
}


def options(role, entry_point="all"):
    return spec_options(ROOT / "roles" / role, entry_point)


def read(path):
    """The action plugin's file lookup, for absolute paths."""
    file = Path(path)
    return file.read_text() if file.is_file() else None


def _trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    return value


def role_vars(role, values):
    """The role's variables as a play sees them: its defaults (templated), then `values`."""
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text())
    merged = {"inventory_hostname": "localhost", **defaults, **values}
    templar = Templar(loader=DataLoader(), variables=_trusted(merged))
    return {key: templar.template(_trusted(merged[key])) for key in {**defaults, **values}}


def problems(role, values, entry_point="all"):
    spec = options(role, entry_point)
    given = role_vars(role, values)
    return role_problems(role, spec, {k: v for k, v in given.items() if k in spec}, read)


def preflight(values):
    """Every role of the deploy playbook plus its wiring, as playbooks/validate.yml runs them:
    the wiring (plugins/module_utils/wiring.py) from the values and the roles' defaults, each
    role's rules, then the rules across roles."""
    everything = {}
    for role in ROLES:
        everything.update(role_vars(role, values))
    given = set(values) & set(OUTPUTS)
    wired = wire({name: everything[name] for name in INPUTS}, given)
    values = {**values, **wired}
    everything.update(wired)
    found = [text for role in ROLES for text in problems(role, values)]
    checked = {name: everything[name] for name in DEPLOY_CHECK_INPUTS}
    checked["mlflow_provision_local_mysql"] = wired["mlflow_provision_local_mysql"]
    return found + rule_problems("deploy", deploy_check_values(checked), read)
