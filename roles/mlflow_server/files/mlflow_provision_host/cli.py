"""The command line of `mlflow-host`: one subcommand per task of the role on the host.

Standard library only at import time: `instance-wait` and `instance-versions` run with the system
python; the other subcommands import their module (and through it MLflow, SQLAlchemy, the
drivers or the Azure SDK of the venv running them) only when they run.

Exit codes: 0 done, 1 failed (one line says what), 2 bad usage. The backup subcommands print
their result as one line of JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json

from . import Failure

PROG = "mlflow-host"


def _define(sub, name: str, target: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand whose work is `target` ("module:function"), imported when it runs."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(target=target)
    return parser


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=PROG, description="The host helpers of role mlflow_server (mlflow-provision)."
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _define(sub, "db-check", "checks:db_check", "connect to the database, say what is wrong")
    p = _define(sub, "artifact-check", "checks:artifact_check", "reach the Azure Blob container")
    p.add_argument("uri", metavar="WASBS_URI")
    p.add_argument("--create-container", action="store_true")
    _define(sub, "db-upgrade", "migrate:db_upgrade", "migrate the databases to this MLflow's head")
    p = _define(sub, "gc", "purge:gc", "purge runs and experiments deleted DAYS days ago or more")
    p.add_argument("days", metavar="DAYS")
    p.add_argument("url", metavar="URL", help="the local instance that deletes the artifacts")
    p = _define(sub, "instance-wait", "instances:instance_wait", "wait for an instance's /health")
    p.add_argument("unit", metavar="UNIT")
    p.add_argument("url", metavar="URL")
    p.add_argument("timeout", metavar="TIMEOUT", type=int, help="seconds")
    p.add_argument("version", metavar="VERSION", nargs="?", help="the MLflow it must serve")
    p = _define(
        sub, "instances-ready", "instances:instances_ready", "every instance up and healthy"
    )
    p.add_argument("timeout", metavar="TIMEOUT", type=int, help="seconds, for each instance")
    p.add_argument("instances", metavar="UNIT=URL", nargs="+")
    p = _define(sub, "instance-versions", "instances:instance_versions", "the MLflow a unit runs")
    p.add_argument("unit", metavar="UNIT")

    p = _define(sub, "backup", "backups:backup", "take a backup into DEST")
    p.add_argument("dest")
    p.add_argument("--name")
    p.add_argument("--label")
    p.add_argument("--keep", type=int)
    p.add_argument("--mlflow-version", help="default: the version of the venv running this")
    p.add_argument("--artifacts")
    p.add_argument("--config")
    p.add_argument("--databases-only", action="store_true")
    p.add_argument("--config-only", action="store_true")
    p = _define(sub, "verify", "backups:verify", "check a backup against its manifest")
    p.add_argument("directory")
    p = _define(sub, "restore", "backups:restore", "replace the data with a backup's")
    p.add_argument("directory")
    p.add_argument("--artifacts")
    p.add_argument("--owner")
    p.add_argument("--databases-only", action="store_true")
    p = _define(sub, "prune", "backups:prune", "keep the newest N complete backups")
    p.add_argument("dest")
    p.add_argument("--keep", type=int, required=True)
    p = _define(sub, "inspect", "backups:inspect", "versions, revisions, sizes, newest backup")
    p.add_argument("--artifacts")
    p.add_argument("--backups")
    p.add_argument("--free", action="append", help="report the free bytes of this file system")
    p = _define(sub, "room", "backups:room", "fail unless an upgrade has room on disk")
    p.add_argument("--backups", required=True)
    p.add_argument("--install", required=True)
    p.add_argument("--artifacts")
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    module, function = args.target.split(":")
    work = getattr(importlib.import_module(f"{__package__}.{module}"), function)
    try:
        result = work(args)
    except Failure as exc:
        print(f"{PROG} {args.command}: {exc}")
        return 1
    if isinstance(result, dict):
        print(json.dumps(result, sort_keys=True))
        return 0
    return result
