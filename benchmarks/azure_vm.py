"""Wall time of a full create against the fake Resource Manager, for each layout of role
azure_vm, and its ratio to the longest dependency chain (goal: at most 1.2).

Every long-running operation of the fake takes LATENCY seconds. The chain comes from the
module's own resource graph (plugins/module_utils/azure_vm_plan.py): `single` is resource group
(synchronous) -> virtual network | NSG | public IP | storage account (together) -> NIC -> VM,
three long-running steps; `load_balanced` (3 VMs, PostgreSQL, identity) is NAT IP -> NAT gateway
-> virtual network -> DNS link -> PostgreSQL server, five. The time measured is the module's,
from its first request to its last (Ansible's own start is not Azure time).
Usage: .venv/bin/python benchmarks/azure_vm.py [LATENCY_SECONDS]
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from ansible.plugins.loader import init_plugin_loader  # noqa: E402
from fake_arm import FakeArm  # noqa: E402
from test_azure_vm import args  # noqa: E402 - the tests' arguments, so both measure the same stack

init_plugin_loader([str(ROOT / ".cache/collections")])
from ansible_collections.mlflow_provision.tracking.plugins.module_utils import (  # noqa: E402
    azure_vm_plan,
)
from ansible_collections.mlflow_provision.tracking.plugins.modules.azure_vm_stack import (  # noqa: E402
    ARGUMENT_SPEC,
)

LATENCY = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0


LAYOUTS = {
    "single": {},
    "load_balanced": {
        "layout": "load_balanced",
        "vm_count": 3,
        "postgres_server": "mlflow-bench-pg",
        "postgres_admin_password": "Bench-Password-123",
    },
}


def main():
    for layout, extra in LAYOUTS.items():
        if measure(layout, extra):
            return 1
    return 0


def measure(layout, extra):
    work = Path(tempfile.mkdtemp(prefix="mp-bench-arm-"))
    fake = FakeArm(work / "tls", latency=LATENCY, polls=0).start()
    stack = {
        **args("rg-bench", dns_label="mlflow-bench", storage_account="mlflowbench", **extra),
        "resource_manager_endpoint": fake.url,
    }
    (work / "vars.json").write_text(
        json.dumps({"stack": stack, "ansible_python_interpreter": sys.executable})
    )
    env = {
        **os.environ,
        **fake.environment(),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    }
    cmd = ["ansible-playbook", "-i", "localhost,", "tests/playbooks/azure_vm_stack.yml"]
    cmd += ["-e", f"@{work / 'vars.json'}"]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    total = time.monotonic() - started
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        return 1
    first, last = fake.timeline[0][0], fake.timeline[-1][0]
    azure = last - first
    resources = azure_vm_plan.plan(
        {**{k: v.get("default") for k, v in ARGUMENT_SPEC.items()}, **stack},
        "00000000-0000-4000-8000-000000000001",
    )
    # A long-running write takes LATENCY; a read, a synchronous write, or no write (a setting
    # Azure has already) about nothing.
    written = [path.lower() for method, path in fake.writes() if method == "PUT"]

    def wrote(r):
        return any(p.endswith("/" + r.name.split("|")[-1].split("/")[-1].lower()) for p in written)

    seconds = {r.key: LATENCY if r.lro and wrote(r) else 0.0 for r in resources}
    chain = azure_vm_plan.critical_path(resources, seconds)
    serial = sum(seconds.values())
    print(f"--- layout {layout}: {len(resources)} resources")
    print(f"latency per long-running operation: {LATENCY:.1f} s")
    print(f"writes: {len(fake.writes())}, requests: {len(fake.requests)}")
    print(f"module (first to last request): {azure:.1f} s")
    print(f"ansible-playbook in all: {total:.1f} s")
    print(f"longest dependency chain: {chain:.1f} s (one after the other: {serial:.1f} s)")
    print(f"ratio to the chain: {azure / chain:.2f} (goal <= 1.2)")
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
