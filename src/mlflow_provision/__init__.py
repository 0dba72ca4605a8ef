"""mlflow-provision: provision and operate MLflow tracking servers with Ansible.

The Python API (one function per command; each returns a Result):

    from mlflow_provision import deploy, status
    result = deploy(inventory="inventories/prod", extravar_args=["@secrets.yml"])
    print(result.status, result.exit_code, result.hosts, result.failures)
    print(status(inventory="inventories/prod").data)
"""

__version__ = "0.8.0"

from .api import (
    backup,
    check,
    deploy,
    destroy,
    restart,
    restore,
    run_playbook,
    secrets,
    status,
    upgrade,
)
from .result import ExitCode, HostStats, Result, TaskRef

__all__ = [
    "ExitCode",
    "HostStats",
    "Result",
    "TaskRef",
    "backup",
    "check",
    "deploy",
    "destroy",
    "restart",
    "restore",
    "run_playbook",
    "secrets",
    "status",
    "upgrade",
]
