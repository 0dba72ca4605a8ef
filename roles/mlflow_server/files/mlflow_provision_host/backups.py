"""Backups of an MLflow server's data, their checks and their restore, and what the data is:
the subcommands backup, verify, restore, prune, room and inspect (see cli.py for their options).

A backup is DEST/N.partial, renamed DEST/N once complete (N: the UTC time, then the label): the
database dump, the auth database's dump, local artifacts and the configuration as tarballs, and
manifest.json (sizes, SHA-256 checksums, MLflow version, schema revisions). Each database kind
dumps without blocking writers (databases.py). Every result is a dict the command prints as
JSON; every failure a Failure with one line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

from . import Failure
from .archive import pack, sha256, tree_size, unpack_into
from .databases import databases, heads

FORMAT = 1
MANIFEST = "manifest.json"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def installed_mlflow() -> str:
    from importlib.metadata import version

    return version("mlflow")


def backup(args) -> dict:
    if not args.name:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        args.name = f"{stamp}-{args.label}" if args.label else stamp
    if not NAME.match(args.name):
        raise Failure(f"backup name {args.name!r}: letters, digits, '.', '_' and '-' only")
    root = Path(args.dest)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    final = root / args.name
    if final.exists():
        raise Failure(f"backup {final} exists already")
    work = root / f"{args.name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    try:
        manifest = _fill(work, args)
    except BaseException:
        # Nothing half-written may pass for a backup.
        shutil.rmtree(work, ignore_errors=True)
        raise
    os.rename(work, final)
    if args.keep:
        manifest["pruned"] = prune(argparse.Namespace(dest=args.dest, keep=args.keep))["removed"]
    return manifest


def kek_fingerprint(env=None) -> str | None:
    """Which passphrase the AI Gateway's stored provider keys are encrypted under (the server's
    MLFLOW_CRYPTO_KEK_PASSPHRASE): a salted SHA-256 of it, never the passphrase itself, so that
    a restore can tell when the backup's keys cannot be read with this server's passphrase."""
    passphrase = (os.environ if env is None else env).get("MLFLOW_CRYPTO_KEK_PASSPHRASE")
    if not passphrase:
        return None
    digest = hashlib.sha256(b"mlflow-provision kek fingerprint\0" + passphrase.encode())
    return digest.hexdigest()[:16]


def _fill(work: Path, args) -> dict:
    started = time.monotonic()
    # A cluster's other hosts keep only their configuration: the databases they share are
    # dumped once, by the first host (and the artifacts are in the shared store).
    config_only = getattr(args, "config_only", False)
    manifest = {
        "format": FORMAT,
        "name": args.name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": socket.getfqdn(),
        "mlflow_version": args.mlflow_version or installed_mlflow(),
        "kind": "config" if config_only else "databases" if args.databases_only else "full",
        "kek_fingerprint": kek_fingerprint(),
        "databases": {},
        "files": {},
    }
    # Option files with credentials live in a 0700 scratch directory that never outlives us.
    with tempfile.TemporaryDirectory(dir=work.parent, prefix=".scratch-") as scratch:
        for db in [] if config_only else databases():
            dest = work / db.dump_name
            db.dump(dest, Path(scratch))
            manifest["databases"][db.role] = {
                "kind": db.kind,
                "file": db.dump_name,
                "revision": db.revision(),
            }
    if not args.databases_only:
        if args.artifacts and not config_only:
            artifacts = Path(args.artifacts)
            count = pack(artifacts, work / "artifacts.tar.gz")
            manifest["artifacts"] = {
                "file": "artifacts.tar.gz",
                "path": str(artifacts),
                "files": count,
            }
        if args.config:
            pack(Path(args.config), work / "config.tar.gz")
            manifest["config"] = {"file": "config.tar.gz", "path": args.config}
    for path in sorted(work.iterdir()):
        os.chmod(path, 0o600)
        manifest["files"][path.name] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
    manifest["bytes"] = sum(f["bytes"] for f in manifest["files"].values())
    manifest["seconds"] = round(time.monotonic() - started, 1)
    _write_manifest(work, manifest)
    return manifest


def _write_manifest(directory: Path, manifest: dict) -> None:
    path = directory / MANIFEST
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(manifest, out, indent=2, sort_keys=True)
        out.write("\n")


def read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not directory.is_dir():
        raise Failure(f"no backup at {directory}")
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise Failure(f"{directory} has no {MANIFEST}: not a complete backup") from exc
    except ValueError as exc:
        raise Failure(f"{path} is not valid JSON: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise Failure(f"{path}: format {manifest.get('format')!r}, this helper reads {FORMAT}")
    return manifest


def verify(args) -> dict:
    directory = Path(args.directory)
    manifest = read_manifest(directory)
    for name, expected in sorted(manifest["files"].items()):
        path = directory / name
        if not path.is_file():
            raise Failure(f"{directory}: {name} is missing")
        if path.stat().st_size != expected["bytes"] or sha256(path) != expected["sha256"]:
            raise Failure(f"{directory}: {name} does not match its checksum in {MANIFEST}")
    return manifest


def restore(args) -> dict:
    directory = Path(args.directory)
    manifest = verify(args)
    if manifest.get("kind") == "config":
        raise Failure(
            f"{directory} holds only a host's configuration (a cluster host's backup): restore"
            " the backup the first host took, which holds the databases"
        )
    found = {db.role: db for db in databases()}
    for role, saved in manifest["databases"].items():
        if role not in found:
            raise Failure(f"the backup holds an {role} database, this server has none configured")
        if found[role].kind != saved["kind"]:
            raise Failure(
                f"the backup's {role} database is {saved['kind']},"
                f" this server's is {found[role].kind}"
            )
    with tempfile.TemporaryDirectory(prefix="mlflow-restore-") as scratch:
        os.chmod(scratch, 0o700)
        for role, saved in manifest["databases"].items():
            found[role].load(directory / saved["file"], Path(scratch))
    restored = sorted(manifest["databases"])
    if not args.databases_only and "artifacts" in manifest and args.artifacts:
        unpack_into(directory / manifest["artifacts"]["file"], Path(args.artifacts), args.owner)
        restored.append("artifacts")
    return {"restored": restored, "manifest": manifest, "warnings": _kek_warnings(manifest)}


def _kek_warnings(manifest: dict) -> list[str]:
    saved, current = manifest.get("kek_fingerprint"), kek_fingerprint()
    if not saved or saved == current:
        return []
    return [
        "the backup's AI Gateway provider keys were encrypted under another passphrase than"
        " this server's MLFLOW_CRYPTO_KEK_PASSPHRASE: MLflow cannot read them. Set"
        " mlflow_server_crypto_kek_passphrase to the backup's (the file crypto-kek-passphrase"
        " in its config.tar.gz) and deploy, or enter the keys again in the UI"
    ]


def complete_backups(root: Path) -> list[tuple[Path, dict]]:
    """Complete backups under root, oldest first (by their manifest's creation time)."""
    found = []
    for path in root.iterdir() if root.is_dir() else []:
        if path.is_dir() and not path.name.endswith(".partial") and (path / MANIFEST).is_file():
            try:
                found.append((path, read_manifest(path)))
            except Failure:
                continue
    return sorted(found, key=lambda item: (item[1].get("created", ""), item[0].name))


def prune(args) -> dict:
    if args.keep < 1:
        raise Failure(f"--keep {args.keep}: keep at least the newest backup")
    root = Path(args.dest)
    complete = complete_backups(root)
    removed = [backup[0] for backup in complete[: max(len(complete) - args.keep, 0)]]
    removed += [p for p in (root.iterdir() if root.is_dir() else []) if p.name.endswith(".partial")]
    for path in removed:
        shutil.rmtree(path)
    return {"removed": sorted(p.name for p in removed), "kept": min(len(complete), args.keep)}


def inspect(args) -> dict:
    result = {"mlflow_version": installed_mlflow(), "databases": {}}
    for path in args.free or []:
        result.setdefault("free", {})[path] = shutil.disk_usage(path).free
    expected = heads()
    for db in databases():
        current = db.revision()
        result["databases"][db.role] = {
            "kind": db.kind,
            "revision": current,
            "head": expected[db.role],
            "at_head": current == expected[db.role],
            "bytes": db.size(),
        }
    if args.artifacts:
        size, files = tree_size(Path(args.artifacts))
        result["artifacts"] = {"path": args.artifacts, "bytes": size, "files": files}
    if args.backups:
        complete = complete_backups(Path(args.backups))
        size = tree_size(Path(args.backups))[0]
        result["backups"] = {"path": args.backups, "count": len(complete), "bytes": size}
        if complete:
            path, manifest = complete[-1]
            created = dt.datetime.fromisoformat(manifest["created"])
            age = dt.datetime.now(dt.UTC) - created
            result["backups"]["newest"] = {
                "name": path.name,
                "created": manifest["created"],
                "age_seconds": int(age.total_seconds()),
                "mlflow_version": manifest.get("mlflow_version"),
                "kind": manifest.get("kind"),
            }
    return result


VENV_BYTES = 1 << 30  # a new MLflow venv with its drivers: ~700 MB, with room to spare
MARGIN_BYTES = 100 << 20


def room(args) -> dict:
    """Enough free space for an upgrade: a full backup (at most the databases plus the
    artifacts: dumps and tarballs compress) where backups go, and a venv where venvs go."""
    need_backup = sum(db.size() for db in databases())
    if args.artifacts:
        need_backup += tree_size(Path(args.artifacts))[0]
    need = {args.backups: int(need_backup * 1.1) + MARGIN_BYTES}
    need[args.install] = need.get(args.install, 0) + VENV_BYTES
    problems = []
    for path, bytes_needed in need.items():
        existing = Path(path)
        while not existing.exists():
            existing = existing.parent
        free = shutil.disk_usage(existing).free
        if free < bytes_needed:
            problems.append(
                f"{path} has {free >> 20} MiB free, the upgrade needs {bytes_needed >> 20} MiB"
                " there (a full backup, a new venv)"
            )
    if problems:
        raise Failure("not enough free disk space: " + "; ".join(problems))
    return {"needed": need}
