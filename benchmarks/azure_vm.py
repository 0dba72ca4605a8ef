"""Wall time of a full Azure VM create against the fake Resource Manager, and its ratio to the
longest dependency chain (goal: at most 1.2).

Every long-running operation of the fake takes LATENCY seconds. The chain is resource group
(synchronous) -> virtual network | NSG | public IP | storage account (together) -> NIC -> VM:
three long-running steps, so the floor is 3 x LATENCY; creating one after the other would take
six. The time measured is the module's, from its first request to its last (Ansible's own start
is not Azure time).
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
from fake_arm import FakeArm  # noqa: E402
from test_azure_vm import args  # noqa: E402 - the tests' arguments, so both measure the same stack

LATENCY = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0


def main():
    work = Path(tempfile.mkdtemp(prefix="mp-bench-arm-"))
    fake = FakeArm(work / "tls", latency=LATENCY, polls=0).start()
    stack = {
        **args("rg-bench", dns_label="mlflow-bench", storage_account="mlflowbench"),
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
    chain = 3 * LATENCY
    serial = 6 * LATENCY
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
