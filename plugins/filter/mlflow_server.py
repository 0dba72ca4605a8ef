# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Filters of role mlflow_server: the database URI, the Host headers MLflow accepts, how the
schema is brought to a version, and whether a backup can be restored onto this server."""

from __future__ import annotations

import base64
import ipaddress
import json
from urllib.parse import quote, urlencode

SCHEMES = {"mysql": "mysql+pymysql", "postgresql": "postgresql+psycopg2"}
LOOPBACK_HOSTS = ["localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[[]::1]:*"]


def _part(value) -> str:
    # Nothing is safe, "/" included: the parts sit between the URI's own separators.
    return quote(str(value), safe="")


def mlflow_db_uri(backend, user, password, host, port, database, query=None):
    """The SQLAlchemy URI of a database backend, mysql+pymysql://user:pass@host:port/db?query
    (or postgresql+psycopg2://...). User, password and database are URL-encoded whole, so they may
    hold any printable character (`@:/%#?&[]=`, quotes, spaces); an IPv6 host goes in brackets;
    `query` (a mapping, in its order) becomes the query string."""
    try:
        ipaddress.IPv6Address(str(host))
        host = f"[{host}]"
    except ValueError:
        pass
    uri = f"{SCHEMES[backend]}://{_part(user)}:{_part(password)}@{host}:{port}/{_part(database)}"
    return f"{uri}?{urlencode(list((query or {}).items()))}"


def mlflow_allowed_hosts(names, ports, extra=()):
    """MLflow's --allowed-hosts: loopback, then each name alone and with each port, then extra."""
    hosts = list(LOOPBACK_HOSTS)
    for name in names:
        hosts.append(name)
        hosts += [f"{name}:{port}" for port in dict.fromkeys(ports)]
    return list(dict.fromkeys(hosts + list(extra)))


def mlflow_schema_plan(stamp, identity, inspection=""):
    """How the schema is brought to the version being deployed:
    - `none`: the stamp says this version already migrated this database;
    - `window`: the new version has migrations newer than a database's revision (`inspection`,
      the JSON of `mlflow-host inspect` run with the new venv: some database not at head);
    - `stamp`: the version changed but nothing is newer (only the stamp is rewritten);
    - `migrate`: a new database, or another one (no inspection: `mlflow db upgrade` at once)."""
    if str(stamp or "").strip() == str(identity or "").strip():
        return "none"
    if not str(inspection or "").strip():
        return "migrate"
    databases = json.loads(inspection)["databases"].values()
    return "stamp" if all(database["at_head"] for database in databases) else "window"


def mlflow_restore_problems(manifest, name, installed_version, backend, auth_enabled):
    """Why backup `name` (its manifest) cannot go onto this server, one line each (none: it can)."""
    from ansible.module_utils.compat.version import LooseVersion

    if manifest.get("kind") == "config" or "database" not in manifest.get("databases", {}):
        return [
            f"mlflow_server_backup_name: backup {name} holds only a host's configuration (the"
            " backup a cluster's other hosts take): restore one taken on the cluster's first"
            " host, which holds the shared databases."
        ]
    problems = []
    version = str(manifest["mlflow_version"])
    if LooseVersion(version) > LooseVersion(str(installed_version)):
        problems.append(
            f"mlflow_server_backup_name: backup {name} was taken with MLflow {version}, newer than"
            f" the installed {installed_version}: its schema is unknown to this version. Deploy"
            f" mlflow_server_version={version} first (playbooks/upgrade.yml), then restore."
        )
    kind = manifest["databases"]["database"]["kind"]
    if kind != backend:
        problems.append(
            f"mlflow_server_backup_name: backup {name} holds a {kind} database; this server uses"
            f" mlflow_server_backend {backend}."
        )
    if "auth" in manifest["databases"] and not auth_enabled:
        problems.append(
            f"mlflow_server_backup_name: backup {name} holds the users of MLflow's auth app; turn"
            " mlflow_server_auth_enabled on to restore them."
        )
    return problems


def mlflow_directories(paths, owner, group, mode):
    """Entries of module file_set for directories that share owner, group and mode."""
    return [
        {"dest": path, "state": "directory", "owner": owner, "group": group, "mode": mode}
        for path in paths
    ]


def mlflow_last_good_files(rendered, instance_files, last_good_dir):
    """Entries of module file_set that put the rendered content of each instance file (the
    entries `rendered`, by dest) into its copy in `last_good_dir` (root 0600, named like the file):
    run in check mode, its changed files are those whose copy differs, or is missing."""
    contents = {entry["dest"]: entry.get("content") for entry in rendered}
    entries = []
    for item in instance_files:
        path = item["path"]
        if contents.get(path) is None:
            raise ValueError(f"{path} is an instance file, but not among the rendered files")
        name = path.rsplit("/", 1)[-1]
        entries.append(
            {"dest": f"{last_good_dir}/{name}", "content": contents[path], "mode": "0600"}
        )
    return entries


def mlflow_instance_probe(port, host):
    """`mlflow-host instances-ready`'s argument for the instance on `port`: UNIT=URL (`host` as
    a URL has it: an IPv6 address in brackets)."""
    return f"mlflow@{port}.service=http://{host}:{port}/health"


def mlflow_shared_secret(readings, candidate, name="the secret"):
    """The value a secret file must hold on every host serving one MLflow (one host alone: the
    same rule). `readings`: the results of slurping the file on each host (a loop whose `item` is
    the host; `content` when it exists, `unreachable` when the host did not answer);
    `candidate`: a new value (base64), used only when no host has one.

    Returns {"content": base64, "new": bool, "missing_on": [hosts that answered without it],
    "problem": text or ""}: the value the hosts hold,
    else the candidate; a problem (and no content) when hosts hold different values - the run
    must not pick one, the others' users would lose their sessions or stored keys - or when no
    answering host has one but a host did not answer (it may hold the value in use)."""
    values, silent, missing = {}, [], []
    for reading in readings or []:
        host = str(reading.get("item"))
        if reading.get("unreachable"):
            silent.append(host)
        elif reading.get("content"):
            text = base64.b64decode(reading["content"]).decode("utf-8", "replace").strip()
            if text:
                values.setdefault(text, []).append(host)
            else:
                missing.append(host)
        else:
            missing.append(host)
    if len(values) > 1:
        groups = "; ".join(", ".join(hosts) for hosts in values.values())
        return {
            "content": "",
            "new": False,
            "missing_on": missing,
            "problem": f"{name} differs between the hosts serving this MLflow (the same on:"
            f" {groups}): copy the file from the host whose value is in use to the others,"
            " then run again",
        }
    if values:
        value = next(iter(values))
        return {
            "content": base64.b64encode(f"{value}\n".encode()).decode(),
            "new": False,
            "missing_on": missing,
            "problem": "",
        }
    if silent:
        return {
            "content": "",
            "new": False,
            "missing_on": missing,
            "problem": f"{name} is on no host that answered, and {', '.join(silent)} did not answer"
            " (it may hold the value in use): run again when every host answers",
        }
    return {"content": candidate, "new": True, "missing_on": missing, "problem": ""}


class FilterModule:
    def filters(self):
        return {
            "mlflow_db_uri": mlflow_db_uri,
            "mlflow_allowed_hosts": mlflow_allowed_hosts,
            "mlflow_schema_plan": mlflow_schema_plan,
            "mlflow_restore_problems": mlflow_restore_problems,
            "mlflow_directories": mlflow_directories,
            "mlflow_last_good_files": mlflow_last_good_files,
            "mlflow_instance_probe": mlflow_instance_probe,
            "mlflow_shared_secret": mlflow_shared_secret,
        }
