"""The backup subcommands of `mlflow-host` (roles/mlflow_server/files/mlflow_provision_host:
backups, databases, archive) on SQLite databases and local artifacts: backup, checksums,
restore, retention, inspection, room. The MySQL and PostgreSQL dumps run against real servers in
molecule (scenarios day2 and postgres); here their URIs, option files and environments."""

import io
import json
import sqlite3
import tarfile
from pathlib import Path

import pytest
from mlflow_provision_host import Failure, backups, cli
from mlflow_provision_host.archive import unpack_into
from mlflow_provision_host.databases import (
    command_failure,
    database_from_uri,
    databases,
    mysql_option_file,
)


def _db(path: Path, revision: str, rows=(), version_table="alembic_version"):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"CREATE TABLE {version_table} (version_num TEXT)")
        conn.execute(f"INSERT INTO {version_table} VALUES (?)", (revision,))
        conn.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO runs VALUES (?, ?)", rows)
    conn.close()


def _rows(path: Path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, name FROM runs ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A SQLite MLflow with the auth app on, local artifacts and a config directory."""
    db, auth_db = tmp_path / "mlflow.db", tmp_path / "basic_auth.db"
    _db(db, "rev-b", [("r1", "first"), ("r2", "second")])
    _db(auth_db, "auth-1", [("u1", "admin")], version_table="alembic_version_auth")
    artifacts = tmp_path / "artifacts"
    (artifacts / "1" / "r1" / "artifacts").mkdir(parents=True)
    (artifacts / "1" / "r1" / "artifacts" / "model.pkl").write_bytes(b"\x00weights" * 1000)
    config = tmp_path / "etc"
    config.mkdir()
    (config / "basic_auth.ini").write_text(
        f"[mlflow]\ndatabase_uri = sqlite:///{auth_db}\nadmin_username = admin\n"
    )
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", f"sqlite:///{db}")
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(config / "basic_auth.ini"))
    return {
        "db": db,
        "auth_db": auth_db,
        "artifacts": artifacts,
        "config": config,
        "backups": tmp_path / "backups",
    }


def _main(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out = capsys.readouterr().out.strip()
    return rc, (json.loads(out) if rc == 0 else out)


def _backup(capsys, server, name="b1", *extra):
    return _main(
        capsys,
        "backup",
        server["backups"],
        "--name",
        name,
        "--mlflow-version",
        "3.11.1",
        "--artifacts",
        server["artifacts"],
        "--config",
        server["config"],
        *extra,
    )


def test_backup_holds_databases_artifacts_config_and_a_manifest(capsys, server):
    rc, manifest = _backup(capsys, server)
    assert rc == 0, manifest
    directory = server["backups"] / "b1"
    assert sorted(p.name for p in directory.iterdir()) == [
        "artifacts.tar.gz",
        "auth.sqlite",
        "config.tar.gz",
        "database.sqlite",
        "manifest.json",
    ]
    # Root-only: it holds the configuration's secrets.
    assert server["backups"].stat().st_mode & 0o777 == 0o700
    assert directory.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in directory.iterdir())
    assert manifest["mlflow_version"] == "3.11.1"
    assert manifest["kind"] == "full"
    assert manifest["databases"]["database"] == {
        "kind": "sqlite",
        "file": "database.sqlite",
        "revision": "rev-b",
    }
    assert manifest["databases"]["auth"]["revision"] == "auth-1"
    assert manifest["artifacts"]["files"] == 1
    assert set(manifest["files"]) == {
        "artifacts.tar.gz",
        "auth.sqlite",
        "config.tar.gz",
        "database.sqlite",
    }
    assert manifest == json.loads((directory / "manifest.json").read_text())
    assert _rows(directory / "database.sqlite") == [("r1", "first"), ("r2", "second")]
    # No scratch directory (MySQL option files) and no partial backup is left behind.
    assert sorted(p.name for p in server["backups"].iterdir()) == ["b1"]


def test_an_existing_name_or_a_bad_name_is_refused(capsys, server):
    assert _backup(capsys, server)[0] == 0
    rc, out = _backup(capsys, server)
    assert rc == 1 and "exists already" in out
    rc, out = _backup(capsys, server, "../escape")
    assert rc == 1 and "letters, digits" in out


def test_verify_finds_a_changed_or_missing_file(capsys, server):
    _backup(capsys, server)
    directory = server["backups"] / "b1"
    assert _main(capsys, "verify", directory)[0] == 0
    with open(directory / "artifacts.tar.gz", "r+b") as f:
        f.seek(40)
        f.write(b"X")
    rc, out = _main(capsys, "verify", directory)
    assert rc == 1 and "artifacts.tar.gz does not match its checksum" in out
    (directory / "artifacts.tar.gz").unlink()
    rc, out = _main(capsys, "verify", directory)
    assert rc == 1 and "artifacts.tar.gz is missing" in out
    rc, out = _main(capsys, "verify", server["backups"] / "nope")
    assert rc == 1 and "no backup at" in out


def test_restore_brings_back_databases_and_artifacts(capsys, server):
    _backup(capsys, server)
    # Later changes: a new run, a new table (a migration), a new artifact, a deleted artifact.
    conn = sqlite3.connect(server["db"])
    with conn:
        conn.execute("INSERT INTO runs VALUES ('r3', 'third')")
        conn.execute("CREATE TABLE added_by_migration (x INTEGER)")
        conn.execute("UPDATE alembic_version SET version_num = 'rev-c'")
    conn.close()
    (server["artifacts"] / "1" / "r3").mkdir()
    (server["artifacts"] / "1" / "r3" / "new.txt").write_text("new")
    (server["artifacts"] / "1" / "r1" / "artifacts" / "model.pkl").unlink()

    rc, result = _main(
        capsys,
        "restore",
        server["backups"] / "b1",
        "--artifacts",
        server["artifacts"],
    )
    assert rc == 0, result
    assert result["restored"] == ["auth", "database", "artifacts"]
    assert _rows(server["db"]) == [("r1", "first"), ("r2", "second")]
    assert database_from_uri(f"sqlite:///{server['db']}", "database").revision() == "rev-b"
    conn = sqlite3.connect(server["db"])
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "added_by_migration" not in tables
    restored = sorted(
        str(p.relative_to(server["artifacts"])) for p in server["artifacts"].rglob("*")
    )
    assert restored == ["1", "1/r1", "1/r1/artifacts", "1/r1/artifacts/model.pkl"]
    assert (server["artifacts"] / "1/r1/artifacts/model.pkl").read_bytes() == b"\x00weights" * 1000


def test_databases_only_restore_keeps_the_artifacts(capsys, server):
    _backup(capsys, server, "db-only", "--databases-only")
    manifest = json.loads((server["backups"] / "db-only" / "manifest.json").read_text())
    assert manifest["kind"] == "databases" and "artifacts" not in manifest
    (server["artifacts"] / "later.txt").write_text("kept")
    rc, result = _main(
        capsys, "restore", server["backups"] / "db-only", "--artifacts", server["artifacts"]
    )
    assert rc == 0 and result["restored"] == ["auth", "database"]
    assert (server["artifacts"] / "later.txt").read_text() == "kept"


def test_restore_refuses_a_backup_of_another_backend(capsys, server, monkeypatch):
    _backup(capsys, server)
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", "mysql+pymysql://u:p@127.0.0.1:3306/mlflow")
    rc, out = _main(capsys, "restore", server["backups"] / "b1")
    assert rc == 1 and "the backup's database database is sqlite, this server's is mysql" in out


def test_an_archive_member_outside_the_directory_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    dest = tmp_path / "artifacts"
    dest.mkdir()
    (dest / "kept.txt").write_text("kept")
    with pytest.raises(Failure, match="outside the directory"):
        unpack_into(archive, dest, None)
    assert not (tmp_path / "outside.txt").exists()
    assert (dest / "kept.txt").read_text() == "kept"


def test_prune_keeps_the_newest_and_removes_partial_backups(capsys, server):
    for name in ("b1", "b2", "b3"):
        assert _backup(capsys, server, name, "--databases-only")[0] == 0
    # Creation times one second apart at most: make the order explicit.
    for i, name in enumerate(("b1", "b2", "b3")):
        path = server["backups"] / name / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["created"] = f"2026-01-0{i + 1}T00:00:00+00:00"
        path.write_text(json.dumps(manifest))
    (server["backups"] / "b4.partial").mkdir()
    rc, result = _main(capsys, "prune", server["backups"], "--keep", "2")
    assert rc == 0
    assert result == {"removed": ["b1", "b4.partial"], "kept": 2}
    assert sorted(p.name for p in server["backups"].iterdir()) == ["b2", "b3"]
    rc, out = _main(capsys, "prune", server["backups"], "--keep", "0")
    assert rc == 1 and "keep at least the newest backup" in out


def test_inspect_reports_revisions_sizes_and_the_newest_backup(capsys, server, monkeypatch):
    _backup(capsys, server)
    monkeypatch.setattr(backups, "heads", lambda: {"database": "rev-c", "auth": "auth-1"})
    monkeypatch.setattr(backups, "installed_mlflow", lambda: "3.17.2")
    rc, result = _main(
        capsys,
        "inspect",
        "--artifacts",
        server["artifacts"],
        "--backups",
        server["backups"],
        "--free",
        server["backups"],
    )
    assert rc == 0
    assert result["mlflow_version"] == "3.17.2"
    assert result["free"][str(server["backups"])] > 0
    assert result["databases"]["database"]["revision"] == "rev-b"
    assert result["databases"]["database"]["at_head"] is False
    assert result["databases"]["auth"]["at_head"] is True
    assert result["artifacts"] == {"path": str(server["artifacts"]), "bytes": 8000, "files": 1}
    assert result["backups"]["count"] == 1
    assert result["backups"]["newest"]["name"] == "b1"
    assert 0 <= result["backups"]["newest"]["age_seconds"] < 60


def test_uri_parts_are_decoded_and_the_option_file_quotes_them():
    db = database_from_uri(
        "mysql+pymysql://ml%40flow:p%40ss%3Aw%2Frd%25%23%3F%26%5B%5D%3D%20%27q%22@db.example:3307/ml"
        "?charset=utf8mb4",
        "database",
    )
    assert (db.kind, db.user, db.host, db.port, db.name) == (
        "mysql",
        "ml@flow",
        "db.example",
        3307,
        "ml",
    )
    assert db.password == "p@ss:w/rd%#?&[]= 'q\""
    text = mysql_option_file(db.user, db.password + "\\", db.host, db.port)
    assert 'password="p@ss:w/rd%#?&[]= \'q\\"\\\\"\n' in text
    pg = database_from_uri(
        "postgresql+psycopg2://u:pw@pg:5432/mlflow?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        "database",
    )
    env = pg.environment()
    assert (env["PGSSLMODE"], env["PGSSLROOTCERT"], env["PGPASSWORD"]) == (
        "verify-full",
        "/etc/ca.pem",
        "pw",
    )


def test_the_sign_in_apps_database_comes_with_mlflows():
    # Auth mode oidc: mlflow-oidc-auth's database, in alembic's default version table.
    env = {
        "MLFLOW_BACKEND_STORE_URI": "sqlite:////var/lib/mlflow/mlflow.db",
        "OIDC_USERS_DB_URI": "postgresql+psycopg2://u:pw@pg:5432/mlflow_oidc_auth",
    }
    found = databases(env)
    assert [(db.role, db.kind) for db in found] == [("database", "sqlite"), ("oidc", "postgresql")]
    assert found[1].name == "mlflow_oidc_auth"


def test_no_password_in_a_failure(capsys, server, monkeypatch):
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", "oracle://u:s3cret@h/db")
    rc, out = _backup(capsys, server)
    assert rc == 1 and "unsupported database URI scheme 'oracle'" in out
    assert "s3cret" not in out
    # A failed backup leaves nothing that could pass for one.
    assert list(server["backups"].iterdir()) == []


def test_room_for_an_upgrade(capsys, server, monkeypatch):
    rc, result = _main(
        capsys, "room", "--backups", server["backups"], "--install", server["backups"] / "opt"
    )
    assert rc == 0, result
    monkeypatch.setattr(backups, "VENV_BYTES", 1 << 60)
    rc, out = _main(
        capsys, "room", "--backups", server["backups"], "--install", server["backups"] / "opt"
    )
    assert rc == 1 and "not enough free disk space" in out and "(a full backup, a new venv)" in out


def test_a_tool_failure_shows_its_error_lines_not_the_statement_after_them():
    stderr = (
        b"pg_restore: error: could not execute query: ERROR:  function x() already exists\n"
        b"Command was: CREATE FUNCTION x() RETURNS trigger\n"
        b"    RETURN NEW; END; $$;\n"
    )
    failure = command_failure(["pg_restore"], "database", 1, stderr)
    assert str(failure) == (
        "database: pg_restore failed: pg_restore: error: could not execute query:"
        " ERROR:  function x() already exists"
    )


def test_restore_says_when_the_gateway_keys_were_encrypted_under_another_passphrase(
    capsys, server, monkeypatch
):
    monkeypatch.setenv("MLFLOW_CRYPTO_KEK_PASSPHRASE", "a" * 40)
    _backup(capsys, server)
    manifest = json.loads((server["backups"] / "b1" / "manifest.json").read_text())
    assert manifest["kek_fingerprint"] == backups.kek_fingerprint()
    assert "a" * 40 not in (server["backups"] / "b1" / "manifest.json").read_text()
    rc, result = _main(capsys, "restore", server["backups"] / "b1")
    assert rc == 0 and result["warnings"] == []
    monkeypatch.setenv("MLFLOW_CRYPTO_KEK_PASSPHRASE", "b" * 40)
    rc, result = _main(capsys, "restore", server["backups"] / "b1")
    assert rc == 0, result
    [warning] = result["warnings"]
    assert "encrypted under another passphrase" in warning
    assert "mlflow_server_crypto_kek_passphrase" in warning


def test_a_cluster_hosts_config_only_backup_dumps_no_database(capsys, server):
    # The first host of a cluster dumps the shared databases; the others keep their
    # configuration only, and such a backup is refused as the data to restore.
    _backup(capsys, server, "cfg", "--config-only")
    manifest = json.loads((server["backups"] / "cfg" / "manifest.json").read_text())
    assert manifest["kind"] == "config" and manifest["databases"] == {}
    assert sorted(manifest["files"]) == ["config.tar.gz"]
    rc, out = _main(capsys, "restore", server["backups"] / "cfg")
    assert rc == 1 and "holds only a host's configuration" in out
    assert _rows(server["db"]) == [("r1", "first"), ("r2", "second")]
