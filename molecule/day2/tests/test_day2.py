"""Day 2 with data: backup, bad input, a failing upgrade rolled back, the upgrade under a logging
client, status, and a restore onto a fresh host. The tests run in file order: each starts from
the state the previous one left.

The data goes in and is read back through the real MLflow client (mp_data.py), run on the host
with the venv of MLflow 3.11.1 (kept after the upgrade), through nginx with MLflow's auth app:
a snapshot (every run with its params, tags, metric histories and artifact checksums, the
registered models with versions, tags and aliases, the users) is compared before and after.
"""

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import testinfra
from mp_figures import figure
from mp_playbook import INVENTORY, ROOT, run_playbook

testinfra_hosts = ["ansible://mp-day2"]

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
OLD = "3.11.1"
NEW = re.search(
    r'^mlflow_server_version: "(.+)"$',
    (ROOT / "roles/mlflow_server/defaults/main.yml").read_text(),
    re.MULTILINE,
).group(1)
ADMIN_PASSWORD = "day2 adm1n p@ss:w/rd%"
PORTS = (5001, 5002)
BACKUPS = "/var/backups/mlflow"
# Kept after the scenario (molecule prunes its ephemeral directory): the figures of the run.
FIGURES = ROOT / ".cache" / "molecule" / "day2-figures.json"
FETCHED = EPHEMERAL / "backups"


def _figure(name, value):
    figure("day2", name, value)


def _install_client(host):
    """mp_data.py and the admin's password (0600) on the host."""
    script = (Path(__file__).parent / "mp_data.py").read_text()
    host.run_expect([0], f"cat > /root/mp_data.py <<'MP_EOF'\n{script}\nMP_EOF")
    host.run_expect([0], f"umask 077; printf '%s' {shlex.quote(ADMIN_PASSWORD)} > /root/mp-admin")


@pytest.fixture(scope="module", autouse=True)
def client_script(host):
    _install_client(host)


@pytest.fixture(scope="module")
def fresh():
    """The second host: created empty, deployed (in the background, see fresh_deploy) and
    restored by the last test only."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://mp-day2b?ansible_inventory={inventory}")


# The replacement host serves alone: with the molecule inventory beside this one, mp-day2 is in
# mlflow_servers too, and the two would be taken for one cluster.
FRESH_INVENTORY = EPHEMERAL / "day2-fresh.yml"


@pytest.fixture(scope="module", autouse=True)
def fresh_deploy():
    """The replacement host's deploy (MLflow NEW, no data) starts with the first test and runs
    beside the others: it touches nothing of mp-day2, and the restore test would otherwise wait
    for it alone (its 3-4 minutes are mostly downloads and package installs). The restore test
    waits for it and reads its result."""
    FRESH_INVENTORY.write_text(
        "all:\n  children:\n    mlflow_servers:\n      hosts:\n"
        "        mp-day2b: {mlflow_server_cluster_hosts: [mp-day2b]}\n"
    )
    log = (EPHEMERAL / "day2-fresh-deploy.log").open("w")
    started = time.time()
    proc = subprocess.Popen(
        [
            "ansible-playbook",
            # The molecule inventory holds the host's variables (as _play passes it).
            "-i",
            str(INVENTORY),
            "-i",
            str(FRESH_INVENTORY),
            str(ROOT / "playbooks" / "deploy.yml"),
            "-l",
            "mp-day2b",
            "-e",
            f"mlflow_server_version={NEW}",
        ],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    state = {"proc": proc, "started": started, "log": EPHEMERAL / "day2-fresh-deploy.log"}
    yield state
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
        proc.wait()
    log.close()


def _client_env(name):
    return (
        f"MLFLOW_TRACKING_URI=https://{name} MLFLOW_TRACKING_USERNAME=admin"
        ' MLFLOW_TRACKING_PASSWORD="$(cat /root/mp-admin)"'
        " MLFLOW_TRACKING_SERVER_CERT_PATH=/etc/ssl/certs/mlflow-provision.crt"
        " MLFLOW_DISABLE_TELEMETRY=true"
    )


def _client(host, name, *args, version=OLD):
    out = host.run(
        f"cd /root && {_client_env(name)} /opt/mlflow/venvs/{version}/bin/python mp_data.py "
        + " ".join(shlex.quote(a) for a in args)
    )
    assert out.rc == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def _snapshot(host, name="mp-day2", version=OLD):
    """What the client reads from the server, and every artifact byte on the host's disk."""
    state = json.loads(_client(host, name, "snapshot", version=version))
    listing = host.check_output(
        "cd /var/lib/mlflow/artifacts && find . -type f -print0 | sort -z | xargs -0 -r sha256sum"
    )
    state["artifact_files"] = dict(
        reversed(line.split(None, 1)) for line in listing.splitlines() if line
    )
    return state


def _served_versions(host):
    """The MLflow version each instance runs: the venv its processes (the `mlflow server`
    launcher and its uvicorn) have loaded. (/version would say it, but MLflow's auth app
    answers it only with credentials.)"""
    versions = {}
    for port in PORTS:
        unit = f"mlflow@{port}.service"
        assert host.run(f"curl -sf http://127.0.0.1:{port}/health").stdout == "OK", unit
        main = host.check_output(f"systemctl show -p MainPID --value {unit}")
        venvs = host.check_output(
            f"for p in {main} $(pgrep -P {main}); do cat /proc/$p/maps; done"
            " | grep -o '/venvs/[^/]*/lib/' | sort -u"
        )
        versions[port] = ",".join(v.split("/")[2] for v in venvs.split())
    return versions


def _play(*args):
    """run_playbook, its output with the callback's line wrapping undone."""
    rc, out = run_playbook(*args)
    return rc, " ".join(out.split())


def _backup_names(host):
    return sorted(host.check_output(f"ls {BACKUPS}").split())


def _revision(host):
    return host.check_output("mysql -N -e 'SELECT version_num FROM mlflow.alembic_version'")


def test_fill_with_the_real_client(host):
    FIGURES.write_text("{}")
    started = time.monotonic()
    _client(host, "mp-day2", "fill")
    _figure("fill_seconds", round(time.monotonic() - started, 1))
    state = _snapshot(host)
    runs = [r for r in state["runs"].values() if r["name"].startswith("run-")]
    assert len(runs) == 20
    assert all(len(r["metrics"]["loss"]) == 20 and len(r["params"]) == 2 for r in runs)
    # Every fifth run logs two files.
    assert len(state["artifact_files"]) == 8
    assert all(len(files) == 2 for files in state["downloads"].values())
    assert len(state["models"]) == 3
    assert all(m["aliases"] == {"champion": "2", "previous": "1"} for m in state["models"].values())
    assert state["users"] == {"day2-alice": {"admin": False}, "day2-bob": {"admin": False}}
    (EPHEMERAL / "day2-filled.json").write_text(json.dumps(state))


def test_backup_holds_databases_artifacts_and_config_root_only(host):
    started = time.monotonic()
    rc, out = _play("backup.yml", "-e", f"mlflow_server_backup_fetch_dir={FETCHED}")
    assert rc == 0, out[-3000:]
    _figure("backup_playbook_seconds", round(time.monotonic() - started, 1))
    name = re.search(r"Backup (\S+) of MLflow " + re.escape(OLD), out).group(1)
    directory = f"{BACKUPS}/{name}"
    assert host.file(BACKUPS).mode == 0o700 and host.file(directory).mode == 0o700
    manifest = json.loads(host.file(f"{directory}/manifest.json").content_string)
    _figure("backup_bytes", manifest["bytes"])
    _figure("backup_helper_seconds", manifest["seconds"])
    assert manifest["mlflow_version"] == OLD and manifest["kind"] == "full"
    assert manifest["databases"]["database"]["kind"] == "mysql"
    assert manifest["databases"]["auth"]["kind"] == "sqlite"
    assert manifest["databases"]["database"]["revision"] == _revision(host)
    assert manifest["artifacts"]["files"] == 8
    assert set(manifest["files"]) == {
        "database.sql.gz",
        "auth.sqlite",
        "artifacts.tar.gz",
        "config.tar.gz",
    }
    for file in manifest["files"]:
        assert host.file(f"{directory}/{file}").mode == 0o600
    # The dump is a real one of the database: MLflow's tables and the runs' rows.
    dump = host.check_output(f"zcat {directory}/database.sql.gz | grep -c 'INSERT INTO `runs`'")
    assert int(dump) >= 1
    # No option file with the password is left anywhere; the password is in no output.
    assert host.run(f"grep -rl 'p@ss:w/rd' {BACKUPS} /tmp").stdout == ""
    assert "p@ss:w/rd" not in out
    # The controller's copy: owner-only, and it checks out against its manifest.
    local = FETCHED / "mp-day2" / name
    assert sorted(p.name for p in local.iterdir()) == sorted([*manifest["files"], "manifest.json"])
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in local.iterdir())
    (EPHEMERAL / "day2-first-backup").write_text(name)


def test_scheduled_backup_runs_from_its_timer(host):
    assert host.service("mlflow-backup.timer").is_enabled
    before = _backup_names(host)
    host.run_expect([0], "systemctl start mlflow-backup.service")
    new = sorted(set(_backup_names(host)) - set(before))
    assert len(new) == 1 and new[0].endswith("-scheduled"), new
    manifest = json.loads(host.file(f"{BACKUPS}/{new[0]}/manifest.json").content_string)
    assert manifest["kind"] == "full" and manifest["mlflow_version"] == OLD


def test_bad_input_fails_before_any_change(host):
    backups, versions = _backup_names(host), _served_versions(host)
    cases = [
        (
            "upgrade.yml",
            ["-e", "mlflow_server_version=3.99.0"],
            "mlflow_server_version: 3.99.0 is not on the package index",
        ),
        (
            "upgrade.yml",
            ["-e", "mlflow_server_version=3.11.0"],
            f"mlflow_server_version: 3.11.0 is older than MLflow {OLD}",
        ),
        (
            "restore.yml",
            ["-e", "mlflow_server_backup_name=no-such-backup"],
            "mlflow_server_backup_name: no backup named no-such-backup in /var/backups/mlflow",
        ),
        ("restore.yml", [], "mlflow_server_backup_name: name the backup to restore"),
        (
            "restore.yml",
            ["-e", "mlflow_server_backup_name=../etc"],
            "mlflow_server_backup_name",
        ),
    ]
    for playbook, args, message in cases:
        rc, out = _play(playbook, *args)
        assert rc != 0, out[-2000:]
        assert message in out, out[-3000:]
    assert not host.file("/opt/mlflow/venvs/3.99.0").exists
    assert _backup_names(host) == backups
    assert _served_versions(host) == versions == {5001: OLD, 5002: OLD}


def test_a_failing_migration_is_rolled_back_with_the_data_intact(host):
    # A table the 5th of the 15 migrations creates is there already (a leftover of a manual
    # attempt): MariaDB runs the first four (DDL is not transactional) and then fails.
    host.run_expect([0], "mysql mlflow -e 'CREATE TABLE label_schemas (x INT)'")
    try:
        revision, before = _revision(host), _snapshot(host)
        rc, out = _play("upgrade.yml", "-e", f"mlflow_server_version={NEW}")
        assert rc != 0, out[-3000:]
        assert f"The upgrade to MLflow {NEW} failed while migrating the schema" in out, out[-4000:]
        assert "label_schemas" in out and "already exists" in out
        assert "Rolled back: the database was restored from backup" in out
        assert _served_versions(host) == {5001: OLD, 5002: OLD}
        assert host.file("/opt/mlflow/current").linked_to == f"/opt/mlflow/venvs/{OLD}"
        assert _revision(host) == revision
        assert _snapshot(host) == before
        assert not host.file("/etc/mlflow/upgrade-state.json").exists
        assert " down;" not in host.file("/etc/nginx/mlflow-upstream.conf").content_string
    finally:
        host.run_expect([0], "mysql mlflow -e 'DROP TABLE IF EXISTS label_schemas'")


def test_an_interrupted_upgrade_is_rolled_back_by_the_next_run(host):
    """The controller dies in the write window (SIGKILL of ansible-playbook while the schema
    migrates): the host keeps a state file, the next run rolls the upgrade back first."""
    revision, before = _revision(host), _snapshot(host)
    proc = subprocess.Popen(
        [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(ROOT / "playbooks" / "upgrade.yml"),
            "-e",
            f"mlflow_server_version={NEW}",
        ],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = "/etc/mlflow/upgrade-state.json"
    try:
        for _ in range(600):
            if host.file(state).exists and '"migrating"' in host.file(state).content_string:
                break
            assert proc.poll() is None, "the upgrade ended before its window"
            time.sleep(0.5)
        else:
            pytest.fail("the upgrade never reached its migration")
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
    assert host.file(state).exists
    rc, out = _play("deploy.yml")
    assert rc == 0, out[-3000:]
    assert f"An upgrade from MLflow {OLD} to {NEW} was interrupted (step migrating)" in out
    assert not host.file(state).exists
    assert _served_versions(host) == {5001: OLD, 5002: OLD}
    assert _revision(host) == revision
    assert _snapshot(host) == before
    assert " down;" not in host.file("/etc/nginx/mlflow-upstream.conf").content_string


def test_upgrade_while_a_client_keeps_logging(host):
    before = _snapshot(host)
    host.run_expect([0], "rm -f /root/loop.stop /root/loop.json")
    # The loop runs as a transient service, its credentials in a 0600 environment file.
    env = {
        "MLFLOW_TRACKING_URI": "https://mp-day2",
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD,
        "MLFLOW_TRACKING_SERVER_CERT_PATH": "/etc/ssl/certs/mlflow-provision.crt",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    lines = "".join(f'{k}="{v}"\n' for k, v in env.items())
    host.run_expect([0], f"umask 077; cat > /root/loop.env <<'MP_EOF'\n{lines}MP_EOF")
    host.run_expect(
        [0],
        "systemd-run --unit mp-day2-loop --collect --working-directory=/root"
        " --property=EnvironmentFile=/root/loop.env"
        f" /opt/mlflow/venvs/{OLD}/bin/python /root/mp_data.py loop"
        " /root/loop.json /root/loop.stop",
    )
    time.sleep(5)
    started = time.monotonic()
    rc, out = _play("upgrade.yml", "-e", f"mlflow_server_version={NEW}")
    wall = round(time.monotonic() - started, 1)
    time.sleep(5)
    host.run_expect([0], "touch /root/loop.stop")
    for _ in range(120):
        if host.file("/root/loop.json").exists:
            break
        time.sleep(1)
    assert rc == 0, out[-4000:]
    _figure("upgrade_wall_seconds", wall)
    window = re.search(r"write window of ([0-9.]+) s", out)
    assert window, out[-3000:]
    _figure("write_window_seconds", float(window.group(1)))
    loop = json.loads(host.file("/root/loop.json").content_string)
    _figure("loop_points_logged", len(loop["logged"]))
    assert loop["errors"] == [], loop["errors"]
    assert len(loop["logged"]) >= 100
    assert _served_versions(host) == {5001: NEW, 5002: NEW}
    assert host.file("/opt/mlflow/current").linked_to == f"/opt/mlflow/venvs/{NEW}"
    # The old venv stays (a restore of an older backup can use it); the state file is gone.
    assert host.file(f"/opt/mlflow/venvs/{OLD}/bin/mlflow").exists
    assert not host.file("/etc/mlflow/upgrade-state.json").exists
    after = _snapshot(host)
    live = after["runs"].pop(loop["run_id"])
    # Every point the client logged is there, once.
    assert [p[0] for p in live["metrics"]["live"]] == loop["logged"]
    assert after == before
    # What the fresh host must hold after the restore, read by the client it will have.
    (EPHEMERAL / "day2-upgraded.json").write_text(json.dumps(_snapshot(host, version=NEW)))


def test_status_shows_versions_revisions_backups_and_the_certificate(host):
    path = EPHEMERAL / "status.json"
    rc, out = _play("status.yml", "-e", f"mlflow_provision_status_json={path}")
    assert rc == 0, out[-3000:]
    assert f"mp-day2: MLflow {NEW}" in out
    assert "mlflow@5001" in out and "at head" in out and "certificate expires" in out
    status = json.loads(path.read_text())["mp-day2"]
    server = status["mlflow"]
    assert server["installed_version"] == NEW
    assert {p: i["version"] for p, i in server["instances"].items()} == {"5001": NEW, "5002": NEW}
    assert all(i["health"] == "OK" for i in server["instances"].values())
    dbs = server["data"]["databases"]
    assert dbs["database"]["at_head"] and dbs["auth"]["at_head"]
    assert dbs["database"]["kind"] == "mysql" and dbs["database"]["bytes"] > 0
    assert server["data"]["artifacts"]["files"] >= 8
    assert server["data"]["backups"]["count"] >= 1
    assert server["data"]["backups"]["newest"]["age_seconds"] < 1800
    assert server["units"]["mlflow@5001.service"]["ActiveState"] == "active"
    assert status["nginx"]["state"] == "active"
    assert status["nginx"]["certificate"]["days_left"] > 300


def test_restore_onto_a_fresh_host_gives_identical_data(host, fresh, fresh_deploy):
    expected = json.loads((EPHEMERAL / "day2-upgraded.json").read_text())
    rc, out = _play("backup.yml", "-e", f"mlflow_server_backup_fetch_dir={FETCHED}")
    assert rc == 0, out[-3000:]
    name = re.search(r"Backup (\S+) of MLflow " + re.escape(NEW), out).group(1)
    # The host is gone: only the controller's copy of the backup is left.
    subprocess.run(["docker", "stop", "mp-day2"], check=True, capture_output=True)
    # The replacement was deployed meanwhile (fresh_deploy), empty, with MLflow NEW.
    inventory = FRESH_INVENTORY
    rc = fresh_deploy["proc"].wait(timeout=900)
    out = fresh_deploy["log"].read_text()
    assert rc == 0, out[-3000:]
    # From its start to its last line (it ran beside the other tests).
    ended = fresh_deploy["log"].stat().st_mtime
    _figure("fresh_deploy_seconds", round(ended - fresh_deploy["started"], 1))
    started = time.monotonic()
    rc, out = _play(
        "restore.yml",
        "-i",
        str(inventory),
        "-l",
        "mp-day2b",
        "-e",
        f"mlflow_server_restore_source={FETCHED / 'mp-day2' / name}",
    )
    assert rc == 0, out[-3000:]
    _figure("restore_seconds", round(time.monotonic() - started, 1))
    assert f"Restored backup {name}" in out
    _install_client(fresh)
    assert _snapshot(fresh, "mp-day2b", version=NEW) == expected
    assert _served_versions(fresh) == {5001: NEW, 5002: NEW}
    # The original host comes back for molecule's own steps.
    subprocess.run(["docker", "start", "mp-day2"], check=True, capture_output=True)
