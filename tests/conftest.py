"""Helpers to run the project's playbooks from unit tests."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.plugins.loader import init_plugin_loader
from fake_arm import FakeArm
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


# --- role azure_vm's module against the fake Azure Resource Manager (tests/test_azure_vm*.py) ---


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    # Fast polls (0.2 s): the tests check what is sent and in which order; the wall time
    # against the dependency chain is measured with a real latency (test_azure_vm_cluster.py,
    # benchmarks/azure_vm.py).
    server = FakeArm(
        tmp_path_factory.mktemp("arm"), polls=1, core_quota=100, poll_seconds=0.2
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(fake, tmp_path_factory):
    return stack_runner(fake, tmp_path_factory)


def stack_runner(fake, tmp_path_factory):
    """Run the module once through ansible-playbook; returns (result, writes it made)."""

    def run(module_args, check=False, diff=False, env=None):
        module_args = {"resource_manager_endpoint": fake.url, **module_args}
        vars_file = tmp_path_factory.mktemp("stack") / "vars.json"
        vars_file.write_text(
            json.dumps({"stack": module_args, "ansible_python_interpreter": sys.executable})
        )
        cmd = ["ansible-playbook", "-i", "localhost,", "tests/playbooks/azure_vm_stack.yml"]
        cmd += (
            ["-e", f"@{vars_file}"] + (["--check"] if check else []) + (["--diff"] if diff else [])
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_"))}
        full_env = {
            **base,
            **fake.environment(),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
            **(env or {}),
        }
        before = len(fake.writes())
        proc = subprocess.run(
            cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300
        )
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        out = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{\n") :])[0]
        result = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
        return result, fake.writes()[before:]

    return run
