"""The one way tests run a playbook: `ansible-playbook` from the repository root with the
project's ansible.cfg, as an operator runs it. Unit tests use it through the `run_playbook`
fixture (tests/conftest.py), molecule's verifiers through molecule/shared/tests/mp_playbook.py
(the verifier's PYTHONPATH holds tests/ too). The product's own runner, ansible-runner behind
`mlflow-provision`, is tested as such by the CLI tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ansible_playbook(playbook, *args, inventory, env=None, timeout=900):
    """(returncode, output) of `ansible-playbook -i <inventory> <playbook> <args>`; a relative
    playbook path is taken from the repository root."""
    path = Path(playbook)
    if not path.is_absolute():
        path = ROOT / path
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(path), *args],
        cwd=ROOT,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr
