"""Run one of the project's playbooks against the scenario's hosts, as an operator would: the
molecule inventory (the scenario's host variables), the project's ansible.cfg; through the
tests' one way of running a playbook (tests/playbook_run.py)."""

import os
from pathlib import Path

from playbook_run import ansible_playbook

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
INVENTORY = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"


def run_playbook(playbook, *args, timeout=900):
    """(returncode, output) of `ansible-playbook -i <molecule inventory> playbooks/<playbook>`;
    a Path is run as it is (a scenario's own playbook)."""
    path = playbook if isinstance(playbook, Path) else ROOT / "playbooks" / playbook
    return ansible_playbook(path, *args, inventory=INVENTORY, timeout=timeout)
