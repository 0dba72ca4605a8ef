"""MLflow's databases, one class per kind: how to connect, read the schema revision and the
size, dump and load, and drop every table.

A database comes from an SQLAlchemy URI as the role's filter builds it (every part URL-encoded):
`database_from_uri(uri, role)`; `databases()` gives MLflow's and, with the auth app on, the auth
app's. Connections use the venv's own drivers (imported when needed: the system python and the
unit tests may lack them). Credentials reach the dump tools through a 0600 option file (MySQL)
or their environment (PostgreSQL), which `ps` does not show.
"""

from __future__ import annotations

import configparser
import gzip
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from . import Failure
from .archive import CHUNK, own_like

# Alembic's version tables: MLflow's own, and the auth app's (a chain of its own).
# mlflow-oidc-auth (auth mode oidc) keeps its chain in a database of its own, in alembic's default
# table.
VERSION_TABLES = {
    "database": "alembic_version",
    "auth": "alembic_version_auth",
    "oidc": "alembic_version",
}


class Database:
    """What every kind has: a role ("database" or "auth") and the URI's query options."""

    kind = ""
    suffix = ""

    def __init__(self, parts, role: str):
        self.role = role
        self.query = dict(parse_qsl(parts.query))

    @property
    def where(self) -> str:
        raise NotImplementedError

    @property
    def dump_name(self) -> str:
        return f"{self.role}.{self.suffix}"

    def connect(self):
        raise NotImplementedError

    def table_query(self) -> str:
        raise NotImplementedError

    def exists(self) -> bool:
        return True

    def tables(self, cur) -> list[str]:
        cur.execute(self.table_query())
        return [row[0] for row in cur.fetchall()]

    def revision(self) -> str | None:
        """The schema revision alembic recorded, or None for a database without one."""
        if not self.exists():
            return None
        table = VERSION_TABLES[self.role]
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

    def size(self) -> int:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(self.size_query())
            return int(cur.fetchone()[0])
        finally:
            conn.close()

    def size_query(self) -> str:
        raise NotImplementedError

    def dump(self, dest: Path, scratch: Path) -> None:
        raise NotImplementedError

    def load(self, src: Path, scratch: Path) -> None:
        """Replace the database's content with the dump's."""
        raise NotImplementedError

    def drop_all(self) -> None:
        """Every table, and what else the dump creates: a table a newer schema added (a failed
        migration) must not outlive a restore."""
        conn = self.connect()
        try:
            cur = conn.cursor()
            self.drop_in(cur, self.tables(cur))
            conn.commit()
        finally:
            conn.close()

    def drop_in(self, cur, tables: list[str]) -> None:
        raise NotImplementedError


class SQLiteDatabase(Database):
    """A file; dumped with SQLite's online backup API (writers are not blocked)."""

    kind = "sqlite"
    suffix = "sqlite"

    def __init__(self, parts, role: str):
        super().__init__(parts, role)
        # sqlite:////abs/path: the netloc is empty, the path keeps its leading slash.
        path = parts.path[1:] if parts.path.startswith("//") else parts.path
        self.path = Path(unquote(path))

    @property
    def where(self) -> str:
        return f"{self.role} SQLite file {self.path}"

    def connect(self):
        return sqlite3.connect(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def table_query(self) -> str:
        return "SELECT name FROM sqlite_master WHERE type = 'table'"

    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def dump(self, dest: Path, scratch: Path) -> None:
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

    def load(self, src: Path, scratch: Path) -> None:
        """The dump is a database file: copied beside the file, then moved over it."""
        tmp = self.path.with_name(self.path.name + ".restoring")
        shutil.copyfile(src, tmp)
        own_like(tmp, self.path if self.path.exists() else self.path.parent)
        os.chmod(tmp, 0o600)
        for stale in (Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            stale.unlink(missing_ok=True)
        os.replace(tmp, self.path)


class ServerDatabase(Database):
    """A database on a server: host, port, user, password and name from the URI."""

    default_port = 0

    def __init__(self, parts, role: str):
        super().__init__(parts, role)
        self.user = unquote(parts.username or "")
        self.password = unquote(parts.password or "")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or self.default_port
        self.name = unquote(parts.path.lstrip("/"))

    @property
    def where(self) -> str:
        return f"{self.role} {self.kind} database {self.name!r} at {self.host}:{self.port}"

    def load(self, src: Path, scratch: Path) -> None:
        self.drop_all()
        self.restore(src, scratch)

    def restore(self, src: Path, scratch: Path) -> None:
        raise NotImplementedError


class MySQLDatabase(ServerDatabase):
    """MySQL or MariaDB: mysqldump --single-transaction (writers are not blocked), gzipped."""

    kind = "mysql"
    suffix = "sql.gz"
    default_port = 3306

    def connect(self):
        import pymysql

        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.name,
            charset=self.query.get("charset", "utf8mb4"),
        )

    def table_query(self) -> str:
        return "SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'"

    def size_query(self) -> str:
        return (
            "SELECT COALESCE(SUM(data_length + index_length), 0)"
            " FROM information_schema.tables WHERE table_schema = DATABASE()"
        )

    def dump(self, dest: Path, scratch: Path) -> None:
        argv = [
            "mysqldump",
            f"--defaults-extra-file={self.option_file(scratch)}",
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
            run(argv, self.where, stdout=out, env=os.environ)

    def restore(self, src: Path, scratch: Path) -> None:
        argv = ["mysql", f"--defaults-extra-file={self.option_file(scratch)}", "--", self.name]
        with gzip.open(src, "rb") as dump:
            run(argv, self.where, stdin=dump, env=os.environ)

    def drop_in(self, cur, tables: list[str]) -> None:
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in tables:
            cur.execute(f"DROP TABLE IF EXISTS `{table.replace('`', '``')}`")
        cur.execute("SET FOREIGN_KEY_CHECKS = 1")

    def option_file(self, scratch: Path) -> Path:
        """A 0600 option file in the 0700 scratch directory: the password stays off argv."""
        path = scratch / f"{self.role}.cnf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(mysql_option_file(self.user, self.password, self.host, self.port))
        return path


# libpq connection options of the URI's query string, and their environment variables.
PG_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}


def _pg_quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgreSQLDatabase(ServerDatabase):
    """PostgreSQL: pg_dump's custom format over the server's own TLS settings."""

    kind = "postgresql"
    suffix = "pgdump"
    default_port = 5432

    def connect(self):
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

    def table_query(self) -> str:
        return "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"

    def size_query(self) -> str:
        return "SELECT pg_database_size(current_database())"

    def dump(self, dest: Path, scratch: Path) -> None:
        argv = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dest}"]
        run(argv, self.where, env=self.environment())

    def restore(self, src: Path, scratch: Path) -> None:
        # --clean --if-exists: the dump's functions and types go first too (the tables are gone
        # already), so that nothing of the dump exists when it is created.
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
        run(argv, self.where, env=self.environment())

    def drop_in(self, cur, tables: list[str]) -> None:
        for table in tables:
            cur.execute(f"DROP TABLE IF EXISTS {_pg_quoted(table)} CASCADE")
        # Enum types SQLAlchemy created for the tables (pg_dump restores them).
        cur.execute(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE t.typtype = 'e' AND n.nspname = current_schema()"
        )
        for (name,) in cur.fetchall():
            cur.execute(f"DROP TYPE IF EXISTS {_pg_quoted(name)} CASCADE")
        # Trigger functions MLflow's migrations created (regprocedure quotes them).
        cur.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = current_schema()"
            " AND pg_get_userbyid(p.proowner) = current_user"
        )
        for (signature,) in cur.fetchall():
            cur.execute(f"DROP FUNCTION IF EXISTS {signature} CASCADE")

    def environment(self) -> dict:
        """The environment of pg_dump and pg_restore: connection and TLS settings, password."""
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


KINDS = {cls.kind: cls for cls in (SQLiteDatabase, MySQLDatabase, PostgreSQLDatabase)}


def database_from_uri(uri: str, role: str) -> Database:
    """The database of an SQLAlchemy URI (`mysql+pymysql://...`: the kind is before the '+')."""
    parts = urlsplit(uri)
    kind = KINDS.get(parts.scheme.split("+")[0])
    if kind is None:
        raise Failure(f"{role}: unsupported database URI scheme {parts.scheme!r}")
    return kind(parts, role)


def databases(env=None) -> list[Database]:
    """MLflow's database, then the auth app's when it is on (basic-auth or oidc-auth)."""
    env = os.environ if env is None else env
    uri = env.get("MLFLOW_BACKEND_STORE_URI", "")
    if not uri:
        raise Failure("MLFLOW_BACKEND_STORE_URI is not set")
    found = [database_from_uri(uri, "database")]
    auth_config = env.get("MLFLOW_AUTH_CONFIG_PATH", "")
    if auth_config:
        config = configparser.ConfigParser()
        if not config.read(auth_config):
            raise Failure(f"cannot read the auth configuration {auth_config}")
        found.append(database_from_uri(config["mlflow"]["database_uri"], "auth"))
    oidc_uri = env.get("OIDC_USERS_DB_URI", "")
    if oidc_uri:
        found.append(database_from_uri(oidc_uri, "oidc"))
    return found


def mysql_option_file(user: str, password: str, host: str, port: int) -> str:
    """A [client] group; values double-quoted with backslash escapes (option file syntax), so a
    password may hold '#', quotes, spaces or backslashes."""

    def quoted(value) -> str:
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (
        f"[client]\nuser={quoted(user)}\npassword={quoted(password)}\n"
        f"host={quoted(host)}\nport={int(port)}\n"
    )


def heads() -> dict:
    """The head revisions of this venv's migrations (MLflow's, the auth apps')."""
    import mlflow
    from alembic.script import ScriptDirectory

    package = Path(mlflow.__file__).parent
    dirs = {
        "database": package / "store" / "db_migrations",
        "auth": package / "server" / "auth" / "db" / "migrations",
    }
    try:
        import mlflow_oidc_auth
    except ImportError:
        pass  # auth mode oidc is off: the venv has no mlflow-oidc-auth
    else:
        dirs["oidc"] = Path(mlflow_oidc_auth.__file__).parent / "db" / "migrations"
    return {role: ScriptDirectory(str(path)).get_current_head() for role, path in dirs.items()}


# --- The dump tools -------------------------------------------------------------------------


def command_failure(argv, where, returncode, stderr: bytes) -> Failure:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    # The tool's own error lines (pg_restore goes on with the failed statement's text).
    errors = [line for line in lines if re.search(r"\berror\b", line, re.IGNORECASE)]
    detail = " ".join((errors or lines)[-3:]) or f"exit code {returncode}"
    return Failure(f"{where}: {argv[0]} failed: {detail}")


def run(argv, where, stdin=None, stdout=None, env=None) -> None:
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
        raise command_failure(argv, where, returncode, stderr)
