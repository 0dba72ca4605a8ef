"""`make bench-cluster`: two MLflow hosts behind a load balancer against one host, on this machine.

On containers of its own (benchmarks/cluster: mlflow-bench-c1 and -c2, and mlflow-bench-cs with
PostgreSQL 15 over TLS, Azurite and HAProxy in TCP mode with HTTP checks; the variables of
`make demo-cluster`), made again by each run and removed at the end (--keep leaves them):
  - cold deploy of both hosts at MLflow 3.11.1, and the idempotent re-run;
  - playbooks/upgrade.yml to the role's pin under load through the balancer: the write window
    each host reports, and how long requests failed as a client saw it (one probe thread);
  - the load of `make bench` (keep-alive threads logging metrics) on the first host straight
    (its nginx, 127.0.0.1:9445) and on both hosts through the balancer (127.0.0.1:9444);
  - playbooks/restart.yml (host by host, each out of the balancer's rotation) under load.
One machine runs every host, the balancer and the client: two hosts add no capacity here, the
figure is the balancer's cost. Traffic goes only to loopback and the containers.
"""

import json
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import requests
from bench import VERSION, arguments, load_during, measured_load, sh

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "benchmarks" / "cluster"
CONTAINERS = ("mlflow-bench-c1", "mlflow-bench-c2", "mlflow-bench-cs")
BALANCER, STRAIGHT = "https://localhost:9444", "https://localhost:9445"
CREDENTIALS = (
    Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    / "mlflow-provision"
    / "credentials"
    / "mlflow-bench-cluster"
)
OLD = "3.11.1"
ENV = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}


def playbook(path, *extra):
    """(seconds, changed on the MLflow hosts, output) of one ansible-playbook run."""
    began = time.monotonic()
    out = sh("ansible-playbook", "-i", str(INVENTORY), path, *extra, env=ENV).stdout
    changed = [int(n) for n in re.findall(r"^mlflow-bench-c\d\s+:.*changed=(\d+)", out, re.M)]
    return time.monotonic() - began, sum(changed), out


class Outage(threading.Thread):
    """One client without retries logging a metric every 50 ms through the balancer: when its
    requests failed (the first and the last failure), and how many."""

    def __init__(self, auth, verify):
        super().__init__(daemon=True)
        self.session = requests.Session()
        self.session.trust_env, self.session.auth, self.session.verify = False, auth, verify
        self.stop, self.failures, self.requests = threading.Event(), [], 0

    def run(self):
        api = f"{BALANCER}/api/2.0/mlflow"
        experiment = self.session.post(
            f"{api}/experiments/create", json={"name": f"outage-{time.time_ns()}"}, timeout=30
        ).json()["experiment_id"]
        run_id = self.session.post(
            f"{api}/runs/create", json={"experiment_id": experiment}, timeout=30
        ).json()["run"]["info"]["run_id"]
        step = 0
        while not self.stop.is_set():
            step += 1
            began = time.monotonic()
            body = {"run_id": run_id, "key": "up", "value": 1, "step": step, "timestamp": 0}
            try:
                ok = (
                    self.session.post(f"{api}/runs/log-metric", json=body, timeout=30).status_code
                    == 200
                )
            except requests.RequestException:
                ok = False
            self.requests += 1
            if not ok:
                self.failures.append(began)
            time.sleep(0.05)

    def span(self):
        return self.failures[-1] - self.failures[0] if self.failures else 0.0


def main():
    args = arguments(__doc__.splitlines()[0])
    version = VERSION

    sh("docker", "rm", "-f", *CONTAINERS, check=False)
    shutil.rmtree(CREDENTIALS, ignore_errors=True)
    figures = {}
    try:
        print("bench-cluster: containers, PostgreSQL, Azurite, HAProxy ...", flush=True)
        playbook("tests/playbooks/demo_cluster.yml")
        print(f"bench-cluster: cold deploy of two hosts at MLflow {OLD} ...", flush=True)
        cold, _, _ = playbook("site.yml", "-e", f"mlflow_server_version={OLD}")
        rerun, rerun_changed, _ = playbook("site.yml", "-e", f"mlflow_server_version={OLD}")
        figures["deploy"] = {"cold_s": cold, "rerun_s": rerun, "rerun_changed": rerun_changed}

        auth = ("mlflow", (CREDENTIALS / "mlflow.password").read_text().strip())
        verify = str(CREDENTIALS / "server.crt")

        print(f"bench-cluster: upgrade.yml {OLD} -> {version} under load ...", flush=True)
        outage = Outage(auth, verify)
        outage.start()
        box = {}
        upgrade = load_during(
            BALANCER,
            auth,
            verify,
            args,
            lambda: box.update(
                out=playbook("playbooks/upgrade.yml", "-e", f"mlflow_server_version={version}")[2]
            ),
        )
        time.sleep(2)
        outage.stop.set()
        outage.join(timeout=60)
        # The playbook's own output, with the time of each task (profile_tasks): where the
        # window goes.
        log = ROOT / ".cache" / "bench-cluster-upgrade.log"
        log.parent.mkdir(exist_ok=True)
        log.write_text(box["out"])
        flat = " ".join(box["out"].split())
        windows = {
            host: float(seconds)
            for host, seconds in re.findall(
                r"serves on (\S+); the schema was migrated in a write window of ([\d.]+) s", flat
            )
        }
        figures["upgrade"] = {
            **upgrade,
            "windows_s": windows,
            "outage_s": outage.span(),
            "outage_failed": len(outage.failures),
            "outage_requests": outage.requests,
        }

        print("bench-cluster: load on one host straight, then on both through HAProxy ...")
        figures["one_host"] = measured_load(STRAIGHT, auth, verify, args)
        figures["two_hosts"] = measured_load(BALANCER, auth, verify, args)

        print("bench-cluster: restart.yml across both hosts under load ...", flush=True)
        figures["restart"] = load_during(
            BALANCER, auth, verify, args, lambda: playbook("playbooks/restart.yml")
        )
    finally:
        if not args.keep:
            sh("docker", "rm", "-f", *CONTAINERS, check=False)
    report(figures, args, version)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def report(figures, args, version):
    one, two = figures["one_host"], figures["two_hosts"]
    upgrade, restart, deploy = figures["upgrade"], figures["restart"], figures["deploy"]
    print(
        f"\n{args.threads} keep-alive client threads logging metrics for {args.seconds:.0f} s,"
        f" median of {args.rounds} rounds; one 2-core machine runs both hosts, the database,"
        " the balancer and the client"
    )
    print(f"{'':40} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'errors':>7}")
    for label, row in (
        ("one host, straight to its nginx", one),
        ("two hosts through HAProxy (TCP)", two),
    ):
        print(
            f"{label:40} {row['rps']:7.1f} {row['p50_ms']:6.0f} {row['p95_ms']:6.0f}"
            f" {row['p99_ms']:6.0f} {row['errors']:7d}"
        )
        print(f"  req/s by round {row['rounds_rps']}")
    windows = ", ".join(f"{h} {s:.1f} s" for h, s in sorted(upgrade["windows_s"].items()))
    print(
        f"\nupgrade.yml {OLD} -> {version}: {upgrade['action_s']:.0f} s; write window {windows};"
        f" a client without retries failed for {upgrade['outage_s']:.1f} s"
        f" ({upgrade['outage_failed']} of {upgrade['outage_requests']} requests);"
        f" the load: {upgrade['errors']} of {upgrade['requests']} failed"
    )
    print(
        f"restart.yml, both hosts: {restart['action_s']:.0f} s, {restart['errors']} of"
        f" {restart['requests']} requests failed, p99 {restart['p99_ms']:.0f} ms"
    )
    print(
        f"cold deploy of two hosts: {deploy['cold_s']:.0f} s; idempotent re-run:"
        f" {deploy['rerun_s']:.0f} s, changed={deploy['rerun_changed']}"
    )
    worst_window = max(upgrade["windows_s"].values(), default=float("inf"))
    targets = [
        (
            "two hosts via balancer >= 0.9x one host",
            two["rps"] >= 0.9 * one["rps"],
            f"{two['rps'] / one['rps']:.2f}x",
        ),
        (
            "restart.yml of the cluster: 0 failed",
            restart["errors"] == 0,
            f"{restart['errors']} of {restart['requests']}",
        ),
        ("upgrade write window <= 20 s", worst_window <= 20, f"{worst_window:.1f} s"),
        ("no failed request under load", one["errors"] + two["errors"] == 0, "errors"),
        ("idempotent re-run changed=0", deploy["rerun_changed"] == 0, "changed"),
    ]
    print("\ntargets:")
    for label, met, figure in targets:
        print(f"  {'met ' if met else 'MISS'}  {label:45} {figure}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
