"""Two hosts serving one MLflow behind HAProxy (the load balancer's stand-in, layer 4 with HTTP
checks of each host's /lb-health): what they share, what runs on one host only, the upgrade of
both from MLflow 3.11.1 to the pin (one migration, MLflow's own client logging), and the load
through the balancer - raw HTTPS without client retries (mp_load) - while a host leaves the
rotation, while restart.yml runs, while a host is retired (retire.yml) and a deploy brings it
back with a new configuration, and while a host is killed (then also MLflow's own client,
which retries). The tests run in file order and leave
both hosts healthy and in rotation."""

import json
import os
import re
import shlex
import subprocess
import threading
import time
from pathlib import Path

from conftest import HOSTS, NAME, ROOT_ON_HOST, test_host
from mp_figures import figure
from mp_https import Endpoint, container_address
from mp_load import Load
from mp_playbook import run_playbook

testinfra_hosts = ["ansible://mp-pgmlflow"]

ADMIN = ("admin", "pg adm1n p@ss%w")
PORTS = (5001, 5002)
PYTHON = "/opt/mlflow/current/bin/python"
# Converged with 3.11.1 (molecule.yml); the third test upgrades both hosts to the role's pin,
# and every later run of deploy.yml asks for it.
OLD = "3.11.1"
NEW = re.search(
    r'^mlflow_server_version: "(.+)"$',
    (
        Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "roles/mlflow_server/defaults/main.yml"
    ).read_text(),
    re.MULTILINE,
).group(1)


def _figure(name, value):
    figure("cluster", name, value)


def _in_rotation(balancer_host):
    """The hosts HAProxy sends new connections to (its stats: status UP)."""
    csv = balancer_host.check_output("curl -s 'http://127.0.0.1:8404/stats;csv'")
    lines = csv.splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]
    return sorted(
        r["svname"]
        for r in rows
        if r["pxname"] == "mlflow_hosts"
        and r["svname"] not in ("FRONTEND", "BACKEND")
        # "UP 1/2": one check failed, still taking connections.
        and r["status"].startswith("UP")
    )


def _wait_rotation(balancer_host, expected, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _in_rotation(balancer_host)
        if found == sorted(expected):
            return
        time.sleep(0.5)
    raise AssertionError(f"in rotation: {found}, expected {sorted(expected)}")


def _requests_seen(host):
    """How many requests this host's nginx has logged (the probes are not logged)."""
    return int(host.check_output("cat /var/log/nginx/access.log* 2>/dev/null | wc -l"))


def _started(host, port):
    return host.check_output(
        f"systemctl show -p ExecMainStartTimestampMonotonic --value mlflow@{port}.service"
    )


class Rotation(threading.Thread):
    """Samples the balancer's view every half second while something runs."""

    def __init__(self, balancer_host):
        super().__init__(daemon=True)
        self.balancer_host, self.samples, self.stop = balancer_host, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append(tuple(_in_rotation(self.balancer_host)))
            time.sleep(0.5)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join(timeout=10)


def _start_client(host, name, script, python, *args):
    """MLflow's own client (`script`) in the background on `host`, as the admin, through the
    balancer by the cluster's name; its JSON result lands in /root/mp-<name>.json."""
    host.run_expect([0], f"rm -f /root/mp-{name}.json")
    host.run_expect([0], f"cat > /root/mp-{name}-client.py <<'MP_EOF'\n{script}\nMP_EOF")
    host.run_expect([0], f"umask 077; printf '%s' {shlex.quote(ADMIN[1])} > /root/mp-admin")
    host.run_expect(
        [0],
        f"cd /root && MLFLOW_TRACKING_URI=https://{NAME} MLFLOW_TRACKING_USERNAME=admin"
        ' MLFLOW_TRACKING_PASSWORD="$(cat /root/mp-admin)"'
        f" MLFLOW_TRACKING_SERVER_CERT_PATH={ROOT_ON_HOST} MLFLOW_DISABLE_TELEMETRY=true"
        f" nohup {python} /root/mp-{name}-client.py {' '.join(args)}"
        f" >/root/mp-{name}.json 2>/root/mp-{name}.err &",
    )


def _client_result(host, name):
    """The client's JSON result, once it has finished (its last line: MLflow prints "View run"
    lines before it)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not host.file(f"/root/mp-{name}.json").content_string:
        time.sleep(2)
    out = host.file(f"/root/mp-{name}.json").content_string
    assert out, host.file(f"/root/mp-{name}.err").content_string[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _begun_after(load, moment):
    """The load's requests that began after `moment` (a result holds its end and duration)."""
    return [r for r in load.results if r[0] - r[3] > moment]


def _assert_no_failed_request(load):
    summary = load.summary()
    assert summary["failed"] == 0, summary
    assert len(summary["by_op"]) == 4 and all(ok >= 20 for ok, _ in summary["by_op"].values())
    return summary


def test_both_hosts_are_in_rotation_and_serve_one_mlflow(hosts, balancer_host, balancer):
    _wait_rotation(balancer_host, HOSTS)
    # An experiment made through the balancer is seen on each host, straight to its nginx.
    status, body, _ = balancer.request(
        "/api/2.0/mlflow/experiments/create",
        auth=ADMIN,
        method="POST",
        data=json.dumps({"name": "made-through-the-balancer"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 200, body
    experiment = json.loads(body)["experiment_id"]
    for name in HOSTS:
        direct = Endpoint(container_address(name), NAME, balancer.cafile)
        status, body, _ = direct.request(
            f"/api/2.0/mlflow/experiments/get?experiment_id={experiment}", auth=ADMIN
        )
        assert status == 200 and b"made-through-the-balancer" in body, (name, status, body)
        # The probe path answers without credentials; MLflow's /health is unchanged.
        assert direct.request("/lb-health")[:2] == (200, b"OK")
        assert direct.request("/health")[:2] == (200, b"OK")


def test_secrets_are_made_once_and_the_same_on_every_host(hosts):
    for path in ("/etc/mlflow/flask-secret-key", "/etc/mlflow/crypto-kek-passphrase"):
        files = [hosts[name].file(path) for name in HOSTS]
        assert all((f.user, f.group, f.mode) == ("root", "root", 0o600) for f in files), path
        assert len({f.sha256sum for f in files}) == 1, path
        assert len(files[0].content_string.strip()) == 64
    # And the instances run with them (the environment file holds both).
    lines = [
        hosts[name].check_output(
            "grep -E '^MLFLOW_(FLASK_SERVER_SECRET_KEY|CRYPTO_KEK_PASSPHRASE)='"
            " /etc/mlflow/mlflow.env | sha256sum"
        )
        for name in HOSTS
    ]
    assert lines[0] == lines[1]


def test_the_migration_and_the_schedules_ran_on_one_host(hosts):
    first, second = hosts[HOSTS[0]], hosts[HOSTS[1]]
    # mlflow db upgrade ran once, on the first host: the second never started it.
    journal = "journalctl --no-pager -q -o cat -u mlflow-db-upgrade.service"
    assert first.check_output(journal).count("Finished mlflow-db-upgrade.service") == 1
    assert second.check_output(journal) == ""
    for timer in ("mlflow-gc.timer", "mlflow-backup.timer"):
        assert first.check_output(f"systemctl is-enabled {timer}") == "enabled", timer
        assert second.run(f"systemctl is-enabled {timer}").stdout.strip() != "enabled", timer


UPGRADE_CLIENT = r"""
import json, os, time
import mlflow
mlflow.set_experiment("cluster-upgrade")
logged, started = 0, time.monotonic()
with mlflow.start_run() as run:
    while not os.path.exists("/root/mp-upgrade-stop") and time.monotonic() - started < 900:
        mlflow.log_metric("step", logged, step=logged)
        logged += 1
        time.sleep(0.05)
history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "step")
print(json.dumps({"logged": logged, "stored": len({m.step for m in history}),
                  "seconds": round(time.monotonic() - started, 1)}))
"""


def _served(host):
    """The MLflow version each instance's processes have loaded (their venv)."""
    found = set()
    for port in (5001, 5002):
        main = host.check_output(f"systemctl show -p MainPID --value mlflow@{port}.service")
        venvs = host.check_output(
            f"for p in {main} $(pgrep -P {main}); do cat /proc/$p/maps; done"
            " | grep -o '/venvs/[^/]*/lib/' | sort -u"
        )
        found |= {v.split("/")[2] for v in venvs.split()}
    return found


def test_both_hosts_upgrade_with_one_migration_and_no_point_lost(hosts, balancer):
    journal = "journalctl --no-pager -q -o cat -u mlflow-db-upgrade.service"
    migrated = hosts[HOSTS[0]].check_output(journal).count("Finished mlflow-db-upgrade.service")
    assert all(_served(h) == {OLD} for h in hosts.values())

    client = hosts[HOSTS[1]]
    client.run_expect([0], "rm -f /root/mp-upgrade-stop")
    _start_client(client, "upgrade", UPGRADE_CLIENT, f"/opt/mlflow/venvs/{OLD}/bin/python")
    started = time.monotonic()
    # One raw thread: in the window it only counts the failures (the balancer has no host).
    with Load(balancer, ADMIN, threads=1) as load:
        time.sleep(3)
        rc, out = run_playbook("upgrade.yml", "-e", f"mlflow_server_version={NEW}", timeout=1500)
        finished = time.monotonic()
        # Requests begun after the upgrade (a loaded machine may take a while to send them).
        deadline = finished + 60
        while time.monotonic() < deadline and len(_begun_after(load, finished)) < 10:
            time.sleep(1)
    _figure("upgrade_playbook_seconds", round(time.monotonic() - started, 1))
    client.run_expect([0], "touch /root/mp-upgrade-stop")
    flat = " ".join(out.split())
    assert rc == 0, out[-5000:]

    # Both hosts went through the window; the schema was migrated once, by the first host.
    windows = re.findall(
        r"MLflow \S+ serves on (\S+); the schema was migrated in a write window of ([\d.]+) s", flat
    )
    assert sorted(host for host, _ in windows) == sorted(HOSTS), flat[-3000:]
    _figure("upgrade_write_window_seconds", {host: float(s) for host, s in windows})
    assert (
        hosts[HOSTS[0]].check_output(journal).count("Finished mlflow-db-upgrade.service")
        == migrated + 1
    )
    assert hosts[HOSTS[1]].check_output(journal) == ""
    assert all(_served(h) == {NEW} for h in hosts.values())

    # MLflow's client (it retries) lost no point; raw requests failed only in the window.
    result = _client_result(client, "upgrade")
    _figure("upgrade_mlflow_client", result)
    assert result["logged"] > 20 and result["stored"] == result["logged"], result
    summary = load.summary()
    _figure("upgrade_raw_load", {"requests": summary["requests"], "failed": summary["failed"]})
    after = _begun_after(load, finished)
    assert len(after) >= 10 and all(r[2] == 200 for r in after), summary


def test_a_drained_host_leaves_the_rotation_and_comes_back(hosts, balancer_host, balancer):
    second = hosts[HOSTS[1]]
    second.run_expect([0], "touch /run/nginx-mlflow-drained")
    try:
        direct = Endpoint(container_address(HOSTS[1]), NAME, balancer.cafile)
        status, body, headers = direct.request("/lb-health")
        assert (status, body) == (503, b"draining\n")
        _wait_rotation(balancer_host, [HOSTS[0]], timeout=10)
        # Every request through the balancer now goes to the first host.
        before = _requests_seen(second)
        for _ in range(10):
            assert balancer.request("/health")[0] == 200
        assert _requests_seen(second) == before
        # Requests that still reach it (an open connection) are answered, and told to close.
        status, _, headers = direct.request("/health")
        assert status == 200 and headers.get("Connection", "").lower() == "close"
    finally:
        second.run_expect([0], "rm -f /run/nginx-mlflow-drained")
    _wait_rotation(balancer_host, HOSTS, timeout=10)


def test_rolling_restart_of_the_cluster_fails_no_request(hosts, balancer_host, balancer):
    before = {name: [_started(hosts[name], port) for port in PORTS] for name in HOSTS}
    seen = {name: _requests_seen(hosts[name]) for name in HOSTS}
    started = time.monotonic()
    with Rotation(balancer_host) as rotation, Load(balancer, ADMIN, keepalive=2) as load:
        time.sleep(3)
        rc, out = run_playbook("restart.yml")
        time.sleep(3)
    assert rc == 0, out[-3000:]
    _figure("restart_seconds", round(time.monotonic() - started, 1))
    summary = _assert_no_failed_request(load)
    _figure("restart_load", {"requests": summary["requests"], "failed": summary["failed"]})
    for name in HOSTS:
        after = [_started(hosts[name], port) for port in PORTS]
        assert all(a != b for a, b in zip(after, before[name], strict=True)), name
        # Both hosts served the load.
        assert _requests_seen(hosts[name]) > seen[name] + 20, name
    # One host at a time left the rotation; never none.
    views = set(rotation.samples)
    assert (HOSTS[0],) in views and (HOSTS[1],) in views, views
    assert () not in views, views
    assert rotation.samples[-1] == HOSTS


def _units(host):
    """nginx's and MLflow's units on a host: (active, enabled) each."""
    return {
        unit: (host.service(unit).is_running, host.service(unit).is_enabled)
        for unit in ("nginx", "mlflow@5001", "mlflow@5002", "mlflow.target")
    }


def test_a_host_is_retired_drained_first_and_brought_back_by_a_deploy(
    hosts, balancer_host, balancer
):
    """Removing a host (retire.yml --limit) drains it first, then stops and disables it; the
    last host in rotation cannot be retired; a deploy that lists the host again brings it back
    into rotation, healthy, while it changes both hosts' configuration. No request fails."""
    first, second = hosts[HOSTS[0]], hosts[HOSTS[1]]
    # Every host at once would take MLflow down: refused before any change.
    rc, out = run_playbook("retire.yml")
    flat = " ".join(out.split())
    assert rc != 0 and "nginx_tls_peers is empty" in flat, flat[-3000:]
    assert set(_units(first).values()) == set(_units(second).values()) == {(True, True)}

    started = time.monotonic()
    with Rotation(balancer_host) as rotation, Load(balancer, ADMIN, keepalive=2) as load:
        time.sleep(3)
        rc, out = run_playbook("retire.yml", "--limit", HOSTS[1])
        time.sleep(3)
    assert rc == 0, out[-3000:]
    _figure("retire_seconds", round(time.monotonic() - started - 6, 1))
    summary = _assert_no_failed_request(load)
    _figure("retire_load", {"requests": summary["requests"], "failed": summary["failed"]})
    assert rotation.samples[0] == HOSTS and rotation.samples[-1] == (HOSTS[0],), rotation.samples
    assert set(_units(second).values()) == {(False, False)}, _units(second)
    # The one host left cannot go.
    rc, out = run_playbook("retire.yml", "--limit", HOSTS[0])
    flat = " ".join(out.split())
    assert rc != 0 and "No other host of the cluster is in the load balancer's rotation" in flat, (
        flat[-3000:]
    )
    assert set(_units(first).values()) == {(True, True)}

    # Back with a deploy (the inventory lists it), which also changes the configuration.
    before = _started(first, PORTS[0])
    with Rotation(balancer_host) as rotation, Load(balancer, ADMIN, keepalive=2) as load:
        time.sleep(3)
        rc, out = run_playbook(
            "deploy.yml",
            "-e",
            f"mlflow_server_version={NEW}",
            "-e",
            "mlflow_server_auth_cache_ttl=45",
        )
        time.sleep(3)
    assert rc == 0, out[-3000:]
    summary = _assert_no_failed_request(load)
    _figure("deploy_load", {"requests": summary["requests"], "failed": summary["failed"]})
    assert _started(first, PORTS[0]) != before, out[-4000:]
    assert set(_units(second).values()) == {(True, True)}, _units(second)
    assert rotation.samples[0] == (HOSTS[0],) and rotation.samples[-1] == HOSTS, rotation.samples
    # The returning host runs the new configuration too.
    assert "auth_cache_ttl_seconds = 45" in second.file("/etc/mlflow/basic_auth.ini").content_string


CLIENT = r"""
import json, os, sys, time
import mlflow
mlflow.set_experiment("cluster-kill")
seconds = float(sys.argv[1])
logged, started = 0, time.monotonic()
with mlflow.start_run() as run:
    while time.monotonic() - started < seconds:
        mlflow.log_metric("step", logged, step=logged)
        logged += 1
history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "step")
print(json.dumps({"logged": logged, "stored": len({m.step for m in history}),
                  "seconds": round(time.monotonic() - started, 1)}))
"""


def test_a_killed_host_costs_only_its_requests_in_flight(hosts, balancer_host, balancer):
    # The host reached with docker exec is killed (the SSH one might come back at another
    # address, which the scenario's inventory would not know); MLflow's own client runs on the
    # other one, through the balancer by the cluster's name.
    victim, survivor = HOSTS[0], hosts[HOSTS[1]]
    _start_client(survivor, "kill", CLIENT, PYTHON, "40")
    with Load(balancer, ADMIN, threads=4, keepalive=2) as load:
        time.sleep(5)
        killed = time.monotonic()
        subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
        try:
            _wait_rotation(balancer_host, [HOSTS[1]], timeout=15)
            _figure("kill_out_of_rotation_seconds", round(time.monotonic() - killed, 1))
            # Past HAProxy's server timeout (20 s), nothing is left in flight on the dead host.
            time.sleep(22)
        finally:
            subprocess.run(["docker", "start", victim], check=True, capture_output=True)
        _wait_rotation(balancer_host, HOSTS, timeout=180)
        _figure("kill_rejoined_seconds", round(time.monotonic() - killed, 1))
        time.sleep(5)
    summary = load.summary()
    _figure("kill_load", {"requests": summary["requests"], "failed": summary["failed"]})
    # Each of the load's 4 threads has at most one request in flight: those on the killed host
    # may fail, within HAProxy's server timeout of the kill; nothing else.
    late = [f for f in load.failures if f[0] - killed > 25 or f[0] < killed]
    assert late == [] and summary["failed"] <= 4, summary
    after = [r for r in load.results if r[0] - killed > 25]
    assert len(after) > 50 and all(r[2] == 200 for r in after)
    # MLflow's client retried what it lost: every point logged is stored.
    result = _client_result(survivor, "kill")
    _figure("kill_mlflow_client", result)
    assert result["logged"] > 50 and result["stored"] == result["logged"], result
    # The host that came back serves again, each instance straight and through its nginx.
    back = test_host(victim)
    for port in PORTS:
        assert back.check_output(f"curl -s http://127.0.0.1:{port}/health") == "OK"
    direct = Endpoint(container_address(victim), NAME, balancer.cafile)
    assert direct.request("/lb-health")[:2] == (200, b"OK")


def test_bad_input_for_several_hosts_fails_before_any_change(hosts):
    before = {name: _started(hosts[name], PORTS[0]) for name in HOSTS}
    rc, out = run_playbook(
        "deploy.yml",
        "-e",
        "mlflow_server_backend=sqlite",
        "-e",
        "mlflow_server_artifact_store=local",
    )
    out = " ".join(out.split())
    assert rc != 0
    assert "Invalid input (nothing was changed)" in out
    assert "mlflow_server_backend: sqlite cannot serve 2 hosts" in out
    assert "mlflow_server_artifact_store: local cannot serve 2 hosts" in out
    assert {name: _started(hosts[name], PORTS[0]) for name in HOSTS} == before


def test_hosts_that_disagree_on_a_secret_stop_the_run(hosts):
    second = hosts[HOSTS[1]]
    key = "/etc/mlflow/flask-secret-key"
    second.run_expect([0], f"cp -p {key} /root/flask-secret-key.kept && echo other > {key}")
    try:
        rc, out = run_playbook("deploy.yml", "-e", f"mlflow_server_version={NEW}")
        out = " ".join(out.split())
        assert rc != 0
        assert re.search(
            r"Flask secret key differs between the hosts serving this MLflow \(the same on:"
            r" mp-pgmlflow; mp-pgmlflow2\)",
            out,
        ), out[-3000:]
        # Neither host's file was replaced.
        assert second.file(key).content_string == "other\n"
    finally:
        second.run_expect([0], f"mv /root/flask-secret-key.kept {key}")
