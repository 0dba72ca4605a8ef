"""Role mlflow_server installs the host helpers' package file by file (vars/main.yml,
__mlflow_server_helper_files): a module added to files/mlflow_provision_host but not listed there
would be missing on the hosts only, as an ImportError of one subcommand."""

import re

from conftest import ROOT

FILES = ROOT / "roles/mlflow_server/files"


def test_every_module_of_the_package_is_installed_and_nothing_else():
    listed = re.findall(
        r"__mlflow_server_host_package ~ '/([\w.]+)',\s*"
        r"'content': lookup\('ansible\.builtin\.file', 'mlflow_provision_host/([\w.]+)'",
        (ROOT / "roles/mlflow_server/vars/main.yml").read_text(),
    )
    assert listed, "no package files found in __mlflow_server_helper_files"
    assert all(dest == src for dest, src in listed), listed
    shipped = sorted(p.name for p in (FILES / "mlflow_provision_host").glob("*.py"))
    assert sorted(dest for dest, _ in listed) == shipped
