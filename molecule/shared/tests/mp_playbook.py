"""Run one of the project's playbooks against the scenario's hosts, as an operator would: the
molecule inventory (the scenario's host variables), the project's ansible.cfg."""

import os
import subprocess
from pathlib import Path

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
INVENTORY = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"


def run_playbook(playbook, *args, timeout=900):
    """(returncode, output) of `ansible-playbook -i <molecule inventory> playbooks/<playbook>`;
    a Path is run as it is (a scenario's own playbook)."""
    path = playbook if isinstance(playbook, Path) else ROOT / "playbooks" / playbook
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(path), *args],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr
