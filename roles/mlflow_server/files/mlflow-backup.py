"""Backups of an MLflow server's data, their checks and their restore, and what the data is.

Run by the role's day-2 tasks as root, with the python of an MLflow venv and the server's 0600
environment file loaded by systemd (systemd-run --property=EnvironmentFile=...): the database
URIs come from $MLFLOW_BACKEND_STORE_URI and the auth app's configuration
($MLFLOW_AUTH_CONFIG_PATH), never from a command line. Credentials reach the dump tools through
a 0600 option file (mysqldump, mysql) or their environment (pg_dump, pg_restore), which `ps`
does not show.

  backup DEST [--name N | --label L] [--artifacts DIR] [--config DIR] [--databases-only]
         [--keep K]
      DEST/N.partial, renamed DEST/N once complete (N: the UTC time, then the label): database
      dump, auth database dump, local artifacts and configuration as tarballs, and
      manifest.json (sizes, SHA-256 checksums,
      MLflow version, schema revisions). MySQL/MariaDB: mysqldump --single-transaction;
      PostgreSQL: pg_dump over the server's own TLS settings; SQLite: its online backup API.
      None of them blocks writers. With --keep, prunes to the newest K afterwards.
  verify DIR              the manifest's checksums; prints the manifest
  restore DIR [--artifacts DIR --owner USER] [--databases-only]
      replaces the databases' content with the backup's (every table dropped first: tables a
      failed migration created go too) and the artifact directory with the backup's
  prune DEST --keep N     removes all but the newest N complete backups and stale .partial dirs
  room --backups DEST --install DIR [--artifacts DIR]
      fails unless there is room for an upgrade: a full backup in DEST, a venv in DIR
  inspect [--artifacts DIR] [--backups DEST] [--free PATH ...]
      JSON: this venv's MLflow version, schema revisions against its heads, database, artifact
      and backup sizes, the newest backup and its age, free disk space

Every failure prints one line saying what failed and exits 1; a password is never printed.
"""

from __future__ import annotations

import argparse
import configparser
import datetime as dt
import gzip
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

FORMAT = 1
MANIFEST = "manifest.json"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
CHUNK = 1 << 20
# Alembic's version tables: MLflow's own, and the auth app's (a chain of its own).
VERSION_TABLES = {"database": "alembic_version", "auth": "alembic_version_auth"}


class Failure(Exception):
    """What went wrong, in one line, for the play to show."""


# --- Databases ------------------------------------------------------------------------------


class Database:
    """A database of an SQLAlchemy URI as our filter builds it (every part URL-encoded)."""

    def __init__(self, uri: str, role: str):
        self.role = role  # "database" or "auth"
        parts = urlsplit(uri)
        self.kind = parts.scheme.split("+")[0]
        if self.kind not in ("sqlite", "mysql", "postgresql"):
            raise Failure(f"{role}: unsupported database URI scheme {parts.scheme!r}")
        self.query = dict(parse_qsl(parts.query))
        if self.kind == "sqlite":
            # sqlite:////abs/path: the netloc is empty, the path keeps its leading slash.
            self.path = Path(unquote(parts.path[1:] if parts.path.startswith("//") else parts.path))
            return
        self.user = unquote(parts.username or "")
        self.password = unquote(parts.password or "")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (5432 if self.kind == "postgresql" else 3306)
        self.name = unquote(parts.path.lstrip("/"))

    @property
    def where(self) -> str:
        if self.kind == "sqlite":
            return f"{self.role} SQLite file {self.path}"
        return f"{self.role} {self.kind} database {self.name!r} at {self.host}:{self.port}"

    @property
    def dump_name(self) -> str:
        suffix = {"sqlite": "sqlite", "mysql": "sql.gz", "postgresql": "pgdump"}[self.kind]
        return f"{self.role}.{suffix}"

    # Connections with the venv's own drivers (imported here: the venv has them, tests may not).
    def connect(self):
        if self.kind == "sqlite":
            return sqlite3.connect(self.path)
        if self.kind == "mysql":
            import pymysql

            return pymysql.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                database=self.name,
                charset=self.query.get("charset", "utf8mb4"),
            )
        import psycopg2

        options = {k: v for k, v in self.query.items() if k in PG_OPTIONS}
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.name,
            **options,
        )

    def revision(self) -> str | None:
        """The schema revision alembic recorded, or None for a database without one."""
        table = VERSION_TABLES[self.role]
        if self.kind == "sqlite" and not self.path.exists():
            return None
        conn = self.connect()
        try:
            cur = conn.cursor()
            if table not in self.tables(cur):
                return None
            cur.execute(f"SELECT version_num FROM {table}")  # noqa: S608 (a constant)
            row = cur.fetchone()
            return row[0] if row else None
        finally:
            conn.close()

    def tables(self, cur) -> list[str]:
        if self.kind == "sqlite":
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        elif self.kind == "mysql":
            cur.execute("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'")
        else:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return [row[0] for row in cur.fetchall()]

    def size(self) -> int:
        if self.kind == "sqlite":
            return self.path.stat().st_size if self.path.exists() else 0
        conn = self.connect()
        try:
            cur = conn.cursor()
            if self.kind == "mysql":
                cur.execute(
                    "SELECT COALESCE(SUM(data_length + index_length), 0)"
                    " FROM information_schema.tables WHERE table_schema = DATABASE()"
                )
            else:
                cur.execute("SELECT pg_database_size(current_database())")
            return int(cur.fetchone()[0])
        finally:
            conn.close()

    # --- dump and load
    def dump(self, dest: Path, scratch: Path) -> None:
        if self.kind == "sqlite":
            if not self.path.exists():
                raise Failure(f"{self.where} does not exist")
            src = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            out = sqlite3.connect(dest)
            try:
                with out:
                    src.backup(out)
            finally:
                src.close()
                out.close()
        elif self.kind == "mysql":
            argv = [
                "mysqldump",
                f"--defaults-extra-file={self._mysql_options(scratch)}",
                "--single-transaction",
                "--quick",
                "--skip-lock-tables",
                "--no-tablespaces",
                "--hex-blob",
                "--default-character-set=utf8mb4",
                "--",
                self.name,
            ]
            with gzip.open(dest, "wb", compresslevel=6) as out:
                _run(argv, self.where, stdout=out, env=os.environ)
        else:
            argv = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dest}"]
            _run(argv, self.where, env=self._pg_env())

    def load(self, src: Path, scratch: Path) -> None:
        """Replace the database's content with the dump's: every table goes first, so that a
        table a newer schema added (a failed migration) does not outlive the restore."""
        if self.kind == "sqlite":
            tmp = self.path.with_name(self.path.name + ".restoring")
            shutil.copyfile(src, tmp)
            _own_like(tmp, self.path if self.path.exists() else self.path.parent)
            os.chmod(tmp, 0o600)
            for stale in (Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                stale.unlink(missing_ok=True)
            os.replace(tmp, self.path)
            return
        self.drop_all()
        if self.kind == "mysql":
            argv = [
                "mysql",
                f"--defaults-extra-file={self._mysql_options(scratch)}",
                "--",
                self.name,
            ]
            with gzip.open(src, "rb") as dump:
                _run(argv, self.where, stdin=dump, env=os.environ)
        else:
            # --clean --if-exists: the dump's functions and types go first too (the tables
            # are gone already), so that nothing of the dump exists when it is created.
            argv = [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={self.name}",
                str(src),
            ]
            _run(argv, self.where, env=self._pg_env())

    def drop_all(self) -> None:
        conn = self.connect()
        try:
            cur = conn.cursor()
            tables = self.tables(cur)
            if self.kind == "mysql":
                cur.execute("SET FOREIGN_KEY_CHECKS = 0")
                for table in tables:
                    cur.execute(f"DROP TABLE IF EXISTS `{table.replace('`', '``')}`")
                cur.execute("SET FOREIGN_KEY_CHECKS = 1")
            else:
                for table in tables:
                    cur.execute(
                        f'DROP TABLE IF EXISTS "{table.replace(chr(34), chr(34) * 2)}" CASCADE'
                    )
                # Enum types SQLAlchemy created for the tables (pg_dump restores them).
                cur.execute(
                    "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
                    " WHERE t.typtype = 'e' AND n.nspname = current_schema()"
                )
                for (name,) in cur.fetchall():
                    cur.execute(
                        f'DROP TYPE IF EXISTS "{name.replace(chr(34), chr(34) * 2)}" CASCADE'
                    )
                # Trigger functions MLflow's migrations created (regprocedure quotes them).
                cur.execute(
                    "SELECT p.oid::regprocedure::text FROM pg_proc p"
                    " JOIN pg_namespace n ON n.oid = p.pronamespace"
                    " WHERE n.nspname = current_schema()"
                    " AND pg_get_userbyid(p.proowner) = current_user"
                )
                for (signature,) in cur.fetchall():
                    cur.execute(f"DROP FUNCTION IF EXISTS {signature} CASCADE")
            conn.commit()
        finally:
            conn.close()

    def _mysql_options(self, scratch: Path) -> Path:
        """A 0600 option file in the 0700 scratch directory: the password stays off argv."""
        path = scratch / f"{self.role}.cnf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(mysql_option_file(self.user, self.password, self.host, self.port))
        return path

    def _pg_env(self) -> dict:
        env = dict(os.environ)
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=self.user,
            PGPASSWORD=self.password,
            PGDATABASE=self.name,
        )
        for key, var in PG_OPTIONS.items():
            if key in self.query:
                env[var] = self.query[key]
        return env


# libpq connection options of the URI's query string, and their environment variables.
PG_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}


def mysql_option_file(user: str, password: str, host: str, port: int) -> str:
    """A [client] group; values double-quoted with backslash escapes (option file syntax), so a
    password may hold '#', quotes, spaces or backslashes."""

    def quoted(value) -> str:
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (
        f"[client]\nuser={quoted(user)}\npassword={quoted(password)}\n"
        f"host={quoted(host)}\nport={int(port)}\n"
    )


def databases(env=None) -> list[Database]:
    """MLflow's database, then the auth app's when it is on."""
    env = os.environ if env is None else env
    uri = env.get("MLFLOW_BACKEND_STORE_URI", "")
    if not uri:
        raise Failure("MLFLOW_BACKEND_STORE_URI is not set")
    found = [Database(uri, "database")]
    auth_config = env.get("MLFLOW_AUTH_CONFIG_PATH", "")
    if auth_config:
        config = configparser.ConfigParser()
        if not config.read(auth_config):
            raise Failure(f"cannot read the auth configuration {auth_config}")
        found.append(Database(config["mlflow"]["database_uri"], "auth"))
    return found


def _installed_mlflow() -> str:
    from importlib.metadata import version

    return version("mlflow")


def heads() -> dict:
    """The head revisions of this venv's migrations (MLflow's and the auth app's)."""
    import mlflow
    from alembic.script import ScriptDirectory

    package = Path(mlflow.__file__).parent
    dirs = {
        "database": package / "store" / "db_migrations",
        "auth": package / "server" / "auth" / "db" / "migrations",
    }
    return {role: ScriptDirectory(str(path)).get_current_head() for role, path in dirs.items()}


# --- Processes ------------------------------------------------------------------------------


def _command_failure(argv, where, returncode, stderr: bytes) -> Failure:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    # The tool's own error lines (pg_restore goes on with the failed statement's text).
    errors = [line for line in lines if re.search(r"\berror\b", line, re.IGNORECASE)]
    detail = " ".join((errors or lines)[-3:]) or f"exit code {returncode}"
    return Failure(f"{where}: {argv[0]} failed: {detail}")


def _run(argv, where, stdin=None, stdout=None, env=None) -> None:
    """Run argv (a fixed tool and our own arguments), streaming the file object `stdin` into it
    and its output into the file object `stdout`; its stderr goes to a temporary file, so that
    no pipe fills up and blocks it. A failure says what the tool said last."""
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(  # noqa: S603
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout is not None else subprocess.DEVNULL,
                stderr=errors,
                env=env,
            )
        except FileNotFoundError as exc:
            raise Failure(f"{where}: {argv[0]} is not installed") from exc
        try:
            if stdin is not None:
                while chunk := stdin.read(CHUNK):
                    proc.stdin.write(chunk)
                proc.stdin.close()
            if stdout is not None:
                while chunk := proc.stdout.read(CHUNK):
                    stdout.write(chunk)
        except BrokenPipeError:
            pass  # the tool ended early: its exit code and stderr say why
        returncode = proc.wait()
        errors.seek(0)
        stderr = errors.read()
    if returncode != 0:
        raise _command_failure(argv, where, returncode, stderr)


# --- Files ----------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_size(path: Path) -> tuple[int, int]:
    """Bytes and files under path (0, 0 when it does not exist)."""
    total = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
                files += 1
            except FileNotFoundError:
                pass  # removed while we walked
    return total, files


def _own_like(path: Path, model: Path) -> None:
    info = model.stat()
    os.chown(path, info.st_uid, info.st_gid)


def pack(src: Path, dest: Path) -> int:
    """src's content as a gzipped tarball (numeric owners kept; empty when src does not exist
    yet); the number of files."""
    count = 0
    with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
        for root, dirs, names in os.walk(src):
            dirs.sort()
            for name in sorted(dirs + names):
                full = Path(root) / name
                tar.add(full, arcname=str(full.relative_to(src)), recursive=False)
                count += not full.is_dir()
    return count


def _safe_members(tar: tarfile.TarFile):
    for member in tar.getmembers():
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts:
            raise Failure(f"refusing the archive member {member.name!r}: outside the directory")
        if member.issym() or member.islnk():
            raise Failure(f"refusing the archive member {member.name!r}: a link")
        if not (member.isfile() or member.isdir()):
            raise Failure(f"refusing the archive member {member.name!r}: not a file")
        yield member


def unpack_into(archive: Path, dest: Path, owner: str | None) -> None:
    """Replace dest's content with the archive's. Unpacked first into dest/.restoring (same file
    system, and dest may be a mount point), then swapped in entry by entry: a broken archive
    leaves dest as it was."""
    staging, previous = dest / ".restoring", dest / ".previous"
    dest.mkdir(mode=0o750, parents=True, exist_ok=True)
    for stale in (staging, previous):
        shutil.rmtree(stale, ignore_errors=True)
    staging.mkdir(mode=0o700)
    previous.mkdir(mode=0o700)
    with tarfile.open(archive, "r:gz") as tar:
        members = list(_safe_members(tar))
        tar.extractall(staging, members=members, numeric_owner=True)  # noqa: S202 (checked above)
    if owner:
        account = pwd.getpwnam(owner)
        os.chown(dest, account.pw_uid, account.pw_gid)
        for root, dirs, names in os.walk(staging):
            for name in (os.path.join(root, n) for n in dirs + names):
                os.chown(name, account.pw_uid, account.pw_gid)
    for entry in dest.iterdir():
        if entry not in (staging, previous):
            os.rename(entry, previous / entry.name)
    for entry in staging.iterdir():
        os.rename(entry, dest / entry.name)
    shutil.rmtree(staging)
    shutil.rmtree(previous)


# --- Commands -------------------------------------------------------------------------------


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
    manifest = {
        "format": FORMAT,
        "name": args.name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": socket.getfqdn(),
        "mlflow_version": args.mlflow_version or _installed_mlflow(),
        "kind": "databases" if args.databases_only else "full",
        "kek_fingerprint": kek_fingerprint(),
        "databases": {},
        "files": {},
    }
    # Option files with credentials live in a 0700 scratch directory that never outlives us.
    with tempfile.TemporaryDirectory(dir=work.parent, prefix=".scratch-") as scratch:
        for db in databases():
            dest = work / db.dump_name
            db.dump(dest, Path(scratch))
            manifest["databases"][db.role] = {
                "kind": db.kind,
                "file": db.dump_name,
                "revision": db.revision(),
            }
    if not args.databases_only:
        if args.artifacts:
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


def backups(root: Path) -> list[tuple[Path, dict]]:
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
    complete = backups(root)
    removed = [backup[0] for backup in complete[: max(len(complete) - args.keep, 0)]]
    removed += [p for p in (root.iterdir() if root.is_dir() else []) if p.name.endswith(".partial")]
    for path in removed:
        shutil.rmtree(path)
    return {"removed": sorted(p.name for p in removed), "kept": min(len(complete), args.keep)}


def inspect(args) -> dict:
    result = {"mlflow_version": _installed_mlflow(), "databases": {}}
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
        complete = backups(Path(args.backups))
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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="mlflow-backup", description=__doc__.split("\n", maxsplit=1)[0]
    )
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("backup")
    p.add_argument("dest")
    p.add_argument("--name")
    p.add_argument("--label")
    p.add_argument("--keep", type=int)
    # Default: the version of the venv running this helper.
    p.add_argument("--mlflow-version")
    p.add_argument("--artifacts")
    p.add_argument("--config")
    p.add_argument("--databases-only", action="store_true")
    p.set_defaults(func=backup)
    p = sub.add_parser("verify")
    p.add_argument("directory")
    p.set_defaults(func=verify)
    p = sub.add_parser("restore")
    p.add_argument("directory")
    p.add_argument("--artifacts")
    p.add_argument("--owner")
    p.add_argument("--databases-only", action="store_true")
    p.set_defaults(func=restore)
    p = sub.add_parser("prune")
    p.add_argument("dest")
    p.add_argument("--keep", type=int, required=True)
    p.set_defaults(func=prune)
    p = sub.add_parser("inspect")
    p.add_argument("--artifacts")
    p.add_argument("--backups")
    p.add_argument(
        "--free", action="append", help="report the free bytes of this path's file system"
    )
    p.set_defaults(func=inspect)
    p = sub.add_parser("room")
    p.add_argument("--backups", required=True)
    p.add_argument("--install", required=True)
    p.add_argument("--artifacts")
    p.set_defaults(func=room)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        result = args.func(args)
    except Failure as exc:
        print(f"mlflow-backup {args.command}: {exc}")
        return 1
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
