"""Where the collection mlflow_provision.tracking is, and the environment ansible-playbook needs
to find it.

An installed wheel carries the collection under mlflow_provision/collections/ (setup.py copies
it in at build time). From a clone (an editable install, `make setup`) the clone itself is the
collection, linked as .cache/collections/ansible_collections/mlflow_provision/tracking.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NAMESPACE, NAME = "mlflow_provision", "tracking"
_PACKAGE = Path(__file__).resolve().parent
BUNDLED = _PACKAGE / "collections"
# Ansible's own default, kept after ours so that the user's other collections still resolve.
_DEFAULT_PATHS = ["~/.ansible/collections", "/usr/share/ansible/collections"]


class CollectionNotFound(RuntimeError):
    pass


def _clone_root() -> Path | None:
    root = _PACKAGE.parent.parent
    return root if (root / "galaxy.yml").is_file() and (root / "roles").is_dir() else None


def collections_dir() -> Path:
    """The directory that holds ansible_collections/mlflow_provision/tracking."""
    if (BUNDLED / "ansible_collections" / NAMESPACE / NAME / "galaxy.yml").is_file():
        return BUNDLED
    root = _clone_root()
    if root is None:
        raise CollectionNotFound(
            f"the collection {NAMESPACE}.{NAME} is missing from {BUNDLED}: "
            "reinstall mlflow-provision"
        )
    base = root / ".cache" / "collections"
    link = base / "ansible_collections" / NAMESPACE / NAME
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(root, target_is_directory=True)
    return base


def collection_root() -> Path:
    return collections_dir() / "ansible_collections" / NAMESPACE / NAME


def status_filters():
    """The collection's status filters (plugins/filter/status.py): the table and the verdict
    the CLI prints are the ones the playbook prints."""
    root = str(collections_dir())
    if root not in sys.path:
        sys.path.append(root)
    from ansible_collections.mlflow_provision.tracking.plugins.filter import status

    return status


def playbook(name: str) -> Path:
    """playbooks/<name>.yml of the collection."""
    path = collection_root() / "playbooks" / f"{name}.yml"
    if not path.is_file():
        raise CollectionNotFound(f"the collection has no playbook {name!r} ({path})")
    return path


def ansible_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Variables for ansible-playbook: ours first in the collections path, the settings the
    project's ansible.cfg holds (a user's ANSIBLE_* variables win), the venv's own tools."""
    environ = dict(os.environ if environ is None else environ)
    user_paths = environ.get("ANSIBLE_COLLECTIONS_PATH") or environ.get("ANSIBLE_COLLECTIONS_PATHS")
    paths = [
        str(collections_dir()),
        *(user_paths.split(os.pathsep) if user_paths else _DEFAULT_PATHS),
    ]
    env = {
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(paths),
        # Our playbooks run on Python hosts found by discovery; say nothing about it.
        "ANSIBLE_INTERPRETER_PYTHON": "auto_silent",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        # Modules through stdin: about three times fewer round trips per task.
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_FORCE_COLOR": "False",
    }
    for key in list(env):
        if key in environ and key != "ANSIBLE_COLLECTIONS_PATH":
            env[key] = environ[key]
    # ansible-playbook and the Azure SDK come with this Python (the venv we are installed in),
    # which need not be on PATH when the command is called by its full path.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environ.get("PATH", "")])
    # A project's ansible.cfg in the working directory applies, as it would to ansible-playbook
    # run there (ansible-runner runs it from its own temporary directory).
    if "ANSIBLE_CONFIG" not in environ and Path("ansible.cfg").is_file():
        env["ANSIBLE_CONFIG"] = str(Path("ansible.cfg").resolve())
    return env
