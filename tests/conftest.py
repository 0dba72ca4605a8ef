"""Helpers to run the project's playbooks from unit tests."""

import json
import sys
from pathlib import Path

import pytest
from ansible.plugins.loader import init_plugin_loader
from playbook_run import ansible_playbook

ROOT = Path(__file__).resolve().parent.parent
# The host helpers' package (tests/test_host_*.py), importable as it is on the host, where it
# sits beside the command mlflow-host.
sys.path.insert(0, str(ROOT / "roles/mlflow_server/files"))

# Ansible's plugin loader and collection finder, before any test imports collection code:
# `ansible_collections.mlflow_provision.tracking...` then loads the way Ansible loads it (the
# clone is linked there by `make setup`), and templated role defaults can use lookups.
init_plugin_loader([str(ROOT / ".cache/collections")])


class PlaybookRun:
    def __init__(self, rc: int, output: str):
        self.rc = rc
        self.output = output

    def __repr__(self):
        return f"PlaybookRun(rc={self.rc})\n{self.output}"


@pytest.fixture
def run_playbook(tmp_path):
    """Run ansible-playbook from the repository root with extra vars given as a dict."""

    def run(playbook, extra_vars=None, env=None, check=True, inventory=None):
        vars_file = tmp_path / "vars.json"
        # The controller's own interpreter: discovery may pick another Python on PATH.
        vars_file.write_text(
            json.dumps({"ansible_python_interpreter": sys.executable, **(extra_vars or {})})
        )
        args = ["-e", f"@{vars_file}"] + (["--check"] if check else [])
        rc, output = ansible_playbook(
            playbook,
            *args,
            inventory=ROOT / inventory if inventory else "localhost,",
            env=env,
            timeout=300,
        )
        return PlaybookRun(rc, output)

    return run
