"""The `mlflow-provision` command: one subcommand per playbook of the collection.

Exit codes: 0 success, 1 the tool could not run, 2 a task failed on a host, 3 bad input or a
preflight refused (nothing changed), 4 a host was unreachable, 130 cancelled (Ctrl-C).
"""

from __future__ import annotations

import functools
import json
import sys

import click

from . import __version__, api
from .render import Progress, summary
from .result import ExitCode

_EPILOG = (
    "Exit codes: 0 success, 1 the tool could not run, 2 a task failed on a host, 3 bad input "
    "or a refused preflight (nothing changed), 4 a host was unreachable, 130 cancelled."
)


def _common(func):
    """The options every command takes, handed to the API as keyword arguments."""

    @click.option(
        "-i",
        "--inventory",
        "inventory",
        multiple=True,
        metavar="PATH",
        help="Inventory file or directory (repeatable); default: ansible.cfg's.",
    )
    @click.option("-l", "--limit", metavar="PATTERN", help="Only these hosts (Ansible pattern).")
    @click.option(
        "-e",
        "--extra-vars",
        "extra_vars",
        multiple=True,
        metavar="VARS",
        help="key=value, YAML/JSON, or @file (repeatable; later wins). Secrets: use @file.",
    )
    @click.option(
        "--vault-password-file",
        "vault_password_file",
        metavar="FILE",
        help="ansible-vault's password (a team's secret store, encrypted vars); "
        "or set ANSIBLE_VAULT_PASSWORD_FILE.",
    )
    @click.option("--check", is_flag=True, help="Say what would change; change nothing.")
    @click.option("--diff", is_flag=True, help="Show the changes made to files.")
    @click.option(
        "-v",
        "--verbose",
        "verbosity",
        count=True,
        help="Every task result as it comes (-vv... also Ansible's verbosity).",
    )
    @click.option(
        "--json", "as_json", is_flag=True, help="One JSON document on stdout, nothing else."
    )
    @click.option("--no-progress", is_flag=True, help="No progress while the playbook runs.")
    @functools.wraps(func)
    def wrapper(**kwargs):
        return func(**kwargs)

    return wrapper


def _run(command, options, as_json, no_progress, verbosity, **extra):
    # Progress goes where it cannot spoil the JSON: stderr, and only on a terminal.
    show = not no_progress and (not as_json or sys.stderr.isatty())
    progress = (
        Progress(command, stream=sys.stderr if as_json else sys.stdout, verbose=verbosity > 0)
        if show
        else None
    )
    kwargs = {**options, **extra, "verbosity": max(verbosity - 1, 0), "on_event": progress}
    if progress is not None:
        with progress:
            result = getattr(api, command)(**kwargs)
    else:
        result = getattr(api, command)(**kwargs)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        summary(result)
    return int(result.exit_code)


def _options(inventory, limit, extra_vars, check, diff):
    return {
        "inventory": list(inventory),
        "limit": limit,
        "extravar_args": list(extra_vars),
        "check": check,
        "diff": diff,
    }


@click.group(epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlflow-provision")
def cli():
    """Provision and operate MLflow tracking servers (the Ansible collection
    mlflow_provision.tracking, run through ansible-runner)."""


def _command(name, help_text):
    """A subcommand that runs api.<name>. The decorated function gets the command's own options
    (and `check`) and returns the API's keyword arguments for them, or raises a UsageError."""

    def decorate(func):
        @functools.wraps(func)
        def command(
            inventory,
            limit,
            extra_vars,
            vault_password_file,
            check,
            diff,
            verbosity,
            as_json,
            no_progress,
            **own,
        ):
            extra = func(check=check, **own) or {}
            options = _options(inventory, limit, extra_vars, check, diff)
            if vault_password_file:
                options["vault_password_file"] = vault_password_file
            return _run(name, options, as_json, no_progress, verbosity, **extra)

        return cli.command(name, help=help_text, epilog=_EPILOG)(_common(command))

    return decorate


@_command(
    "deploy",
    "Create the Azure VM when the inventory asks for one, then configure every "
    "host in mlflow_servers (database, MLflow, nginx). Safe to repeat.",
)
def deploy(check):
    return {}


@_command(
    "check",
    "The preflight only: every variable of every role on every host and the "
    "wiring between the roles. Touches no host.",
)
def check_(check):
    return {}


@_command(
    "status",
    "Each host's MLflow instances, versions, schema, backups, nginx and "
    "certificate. Changes nothing.",
)
def status(check):
    return {}


@_command(
    "secrets",
    "Where each host's generated secrets live (the store, the key or file) and "
    "whether the store has them. Never a value; makes nothing.",
)
def secrets_(check):
    return {}


@_command(
    "restart",
    "Rolling restart: one host, then one instance at a time, each drained "
    "through nginx first. No request fails.",
)
def restart(check):
    return {}


@_command(
    "retire",
    "Take hosts out of a cluster for good (-l HOSTS): out of the load balancer's "
    "rotation first, then nginx and MLflow stopped and disabled. Refused when no other "
    "host would serve.",
)
def retire(check):
    return {}


@_command(
    "upgrade",
    "Upgrade MLflow (preflight, full backup, migration in a short write "
    "window, rollback on any failure).",
)
@click.option(
    "--version",
    "version",
    metavar="X.Y.Z",
    help="The MLflow version; default: the collection's pin.",
)
def upgrade(check, version):
    return {"version": version}


@_command(
    "backup",
    "A consistent backup of each host (databases, artifacts, config), kept on "
    "the host; --fetch copies it to this machine.",
)
@click.option("--label", metavar="WORD", help="Suffix of the backup's name (default: manual).")
@click.option(
    "--fetch", "fetch_dir", metavar="DIR", help="Also copy it here (DIR/<host>/<name>/, 0700)."
)
def backup(check, label, fetch_dir):
    return {"label": label, "fetch_dir": fetch_dir}


@_command(
    "restore",
    "Restore a backup: --backup NAME (on the host) or --from DIR (fetched). Use -l HOST.",
)
@click.option("--backup", "backup_name", metavar="NAME", help="A backup's name on the host.")
@click.option("--from", "source", metavar="DIR", help="A backup directory on this machine.")
def restore(check, backup_name, source):
    if bool(backup_name) == bool(source):
        raise click.UsageError("give one of --backup NAME or --from DIR")
    return {"backup": backup_name, "source": source}


@_command(
    "destroy",
    "Remove the Azure VMs and what role azure_vm made for them. The database server and the "
    "storage account (the data) stay, with the network they need, unless --with-data.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--with-data",
    is_flag=True,
    help="Also delete the PostgreSQL server and the storage account: every run, model, artifact.",
)
def destroy(check, yes, with_data):
    if not yes and not check:
        if not sys.stdin.isatty():
            raise click.UsageError("destroy removes the VMs: add --yes (or --check to see what)")
        what = "the VMs, the database and the artifacts" if with_data else "the VMs"
        click.confirm(f"Remove {what}?", abort=True)
    return {"with_data": with_data}


def main(argv=None) -> int:
    """Entry point: click's usage errors become the bad-input exit code (3)."""
    try:
        code = cli.main(args=argv, prog_name="mlflow-provision", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Cancelled.", err=True)
        return int(ExitCode.CANCELLED)
    except click.UsageError as error:
        error.show()
        return int(ExitCode.BAD_INPUT)
    except click.ClickException as error:
        error.show()
        return int(ExitCode.ERROR)
    return int(code or 0)


def run() -> None:
    sys.exit(main())
