"""The upgrade of both hosts from MLflow 3.11.1 (converge) to the role's pin, last of the
scenario: the schema (15 migrations of MLflow's, 4 of the auth app's) is migrated once, by one
host, with every host's instances out of the write path, while MLflow's own client logs through
the balancer and raw requests without retries keep coming (those fail only in the window)."""

import json
import os
import re
import shlex
import time
from pathlib import Path

import testinfra
from mp_https import Endpoint, container_address
from mp_load import Load
from mp_playbook import ROOT, run_playbook

testinfra_hosts = ["ansible://mp-pgmlflow"]

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
NAME = "mlflow.cluster.test"
HOSTS = ("mp-pgmlflow", "mp-pgmlflow2")
ADMIN = ("admin", "pg adm1n p@ss%w")
OLD = "3.11.1"
NEW = re.search(
    r'^mlflow_server_version: "(.+)"$',
    (ROOT / "roles/mlflow_server/defaults/main.yml").read_text(),
    re.MULTILINE,
).group(1)
FIGURES = ROOT / ".cache" / "molecule" / "cluster-figures.json"

CLIENT = r"""
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


def _figure(name, value):
    figures = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    figures[name] = value
    FIGURES.write_text(json.dumps(figures, indent=2))
    print(f"FIGURE {name} = {value}")


def _host(name):
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}&sudo=true")


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


def test_both_hosts_upgrade_with_one_migration_and_no_point_lost():
    hosts = {name: _host(name) for name in HOSTS}
    journal = "journalctl --no-pager -q -o cat -u mlflow-db-upgrade.service"
    migrated = hosts[HOSTS[0]].check_output(journal).count("Finished mlflow-db-upgrade.service")
    assert all(_served(h) == {OLD} for h in hosts.values())

    client = hosts[HOSTS[1]]
    client.run_expect([0], "rm -f /root/mp-upgrade-stop /root/mp-upgrade.json")
    client.run_expect([0], f"cat > /root/mp-upgrade-client.py <<'MP_EOF'\n{CLIENT}\nMP_EOF")
    client.run_expect([0], f"umask 077; printf '%s' {shlex.quote(ADMIN[1])} > /root/mp-admin")
    client.run_expect(
        [0],
        f"cd /root && MLFLOW_TRACKING_URI=https://{NAME} MLFLOW_TRACKING_USERNAME=admin"
        ' MLFLOW_TRACKING_PASSWORD="$(cat /root/mp-admin)"'
        " MLFLOW_TRACKING_SERVER_CERT_PATH=/etc/mlflow/db-ca.pem MLFLOW_DISABLE_TELEMETRY=true"
        f" nohup /opt/mlflow/venvs/{OLD}/bin/python /root/mp-upgrade-client.py"
        " >/root/mp-upgrade.json 2>/root/mp-upgrade.err &",
    )
    balancer = Endpoint(container_address("mp-pg"), NAME, EPHEMERAL / "tls" / "ca.pem")
    started = time.monotonic()
    with Load(balancer, ADMIN, threads=2, keepalive=1) as load:
        time.sleep(3)
        rc, out = run_playbook("upgrade.yml", "-e", f"mlflow_server_version={NEW}", timeout=1500)
        finished = time.monotonic()
        time.sleep(3)
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
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not client.file("/root/mp-upgrade.json").content_string:
        time.sleep(2)
    result = client.file("/root/mp-upgrade.json").content_string
    assert result, client.file("/root/mp-upgrade.err").content_string[-3000:]
    result = json.loads(result.strip().splitlines()[-1])
    _figure("upgrade_mlflow_client", result)
    assert result["logged"] > 20 and result["stored"] == result["logged"], result
    summary = load.summary()
    _figure("upgrade_raw_load", {"requests": summary["requests"], "failed": summary["failed"]})
    after = [r for r in load.results if r[0] > finished]
    assert len(after) > 10 and all(r[2] == 200 for r in after), summary
