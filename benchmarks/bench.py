"""`make bench`: our stack against the plain `mlflow server` it replaces, side by side, one run.

On a fresh systemd container `mlflow-bench` (benchmarks/inventory; the demo's variables: MariaDB,
2 instances of 1 worker, nginx with a self-signed certificate, HTTPS on 127.0.0.1:9443) it measures:
  - cold deploy (fresh container, image present) with each role's share, and the idempotent re-run;
  - proxy mode (nginx basic auth): load through nginx, MLflow's RSS, ready after a restart, and
    the same load during playbooks/restart.yml (failed requests, p99, how long it took);
  - auth mode `mlflow` (nginx TLS only; the app provision-auth, the default): the same after a
    second deploy, then the load again with MLflow's basic-auth app alone (a third deploy);
  - auth mode `oidc` (mlflow-oidc-auth; the tests' OpenID provider on the controller for its
    discovery), the load with an access token as a CI job sends it (a fourth deploy);
  - a reference row: our instances on their own ports (loopback, no nginx, the same database),
    the client inside the container, so that what nginx costs is visible;
  - the plain `mlflow server` of the same version and venv, defaults (SQLite, 4 workers, job
    execution on), started and stopped here on the same container with our service stopped, and
    the same load during its `systemctl restart` (what its users do to apply a change).
Load: benchmarks/load.py, N keep-alive client threads logging metrics for a fixed time (bounded),
median of 3 rounds. Beside req/s, the server's CPU time per 1,000 requests (MLflow, nginx and the
database: their processes' CPU time from /proc), which moves far less than req/s with what else the
machine does.
Traffic goes only to loopback and the container. The container is removed at the end (--keep
leaves it). Prints a table and each target with its figure.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from load import run_load

ROOT = Path(__file__).resolve().parent.parent
HOST = "mlflow-bench"
INVENTORY = ROOT / "benchmarks" / "inventory"
URL = "https://localhost:9443"
CREDENTIALS = (
    Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    / "mlflow-provision"
    / "credentials"
    / HOST
)
PLAIN_PORT = 5001
# The server's processes, by their systemd units (benchmarks/proc_cpu.py): every instance of
# mlflow@, nginx and MariaDB; the plain server's transient unit.
OURS_UNITS = "mlflow@[0-9]+|nginx|mariadb"
PLAIN_UNITS = "mlflow-plain"
# Copied into the container by the bench (the direct row's client runs there).
IN_CONTAINER = "/tmp/mp-bench"
# The version the role deploys by default: the plain server runs the same one.
VERSION = yaml.safe_load((ROOT / "roles/mlflow_server/defaults/main.yml").read_text())[
    "mlflow_server_version"
]


def sh(*argv, check=True, env=None, capture=True):
    proc = subprocess.run(
        argv, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=capture, text=True
    )
    if check and proc.returncode != 0:
        command = " ".join(argv[:4])
        sys.exit(
            f"bench: {command} failed (rc={proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        )
    return proc


def on_host(script, check=True):
    return sh("docker", "exec", HOST, "bash", "-c", script, check=check).stdout.strip()


def playbook(*extra, profile=False):
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    if profile:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_roles"
    began = time.monotonic()
    out = sh("ansible-playbook", "-i", str(INVENTORY), "site.yml", *extra, env=env).stdout
    seconds = time.monotonic() - began
    changed = re.search(rf"^{HOST}\s+:.*changed=(\d+)", out, re.M)
    roles = dict(re.findall(r"^(base|mysql|mlflow_server|nginx_tls) -+ ([0-9.]+)s$", out, re.M))
    return seconds, int(changed.group(1)) if changed else -1, roles


def mlflow_rss_mb(unit):
    """Resident memory of every process of a unit (MB), and how many processes there are.
    `unit` is a regular expression: `mlflow@[0-9]+` counts every instance."""
    out = on_host(f"ps -eo rss=,unit= | awk '$2 ~ /^{unit}\\.service$/ {{print $1}}'")
    values = [int(v) for v in out.split()]
    return sum(values) / 1024, len(values)


def wait_for(url, seconds=120):
    """A shell step that polls `url` until it answers 2xx, and fails after `seconds`."""
    return f"timeout {seconds} bash -c 'until curl -sf -o /dev/null {url}; do sleep 0.05; done'"


def ready_after_restart(times=3):
    """Seconds from `systemctl restart mlflow@5001` to its /health answering, `times` runs."""
    results = []
    for _ in range(times):
        ms = on_host(
            "start=$(date +%s%N); systemctl restart mlflow@5001;"
            f" {wait_for('http://127.0.0.1:5001/health')} &&"
            " echo $(( ($(date +%s%N) - start) / 1000000 ))"
        )
        results.append(int(ms) / 1000)
        time.sleep(2)
    return results


def copy_tools():
    """benchmarks/load.py and proc_cpu.py into the container."""
    on_host(f"mkdir -p {IN_CONTAINER}")
    for name in ("load.py", "proc_cpu.py"):
        sh("docker", "cp", str(ROOT / "benchmarks" / name), f"{HOST}:{IN_CONTAINER}/{name}")


def server_cpu(units):
    """A callable: the CPU microseconds the server's processes have used so far, read in the
    container by benchmarks/proc_cpu.py."""
    return lambda: int(on_host(f"python3 {IN_CONTAINER}/proc_cpu.py '{units}'"))


def median_load(rounds):
    """The round with the median req/s of several (one machine runs everything here: a round now
    and then loses a few seconds to something else), with every round's req/s and CPU."""
    middle = sorted(rounds, key=lambda r: r["rps"])[len(rounds) // 2]
    return {
        **middle,
        "rounds_rps": [round(r["rps"], 1) for r in rounds],
        "rounds_cpu": [round(r.get("cpu_ms_per_1000", float("nan"))) for r in rounds],
    }


def measured_load(url, auth, verify, args, units=None):
    """`args.rounds` load rounds, the median kept; with `units`, the server's CPU per 1,000."""
    cpu = server_cpu(units) if units else None
    return median_load(
        [
            run_load(url, auth, verify, args.threads, args.seconds, cpu=cpu)
            for _ in range(args.rounds)
        ]
    )


# Auth mode oidc: the tests' OpenID provider on the controller (tests/oidc/idp.py) for the
# server's discovery at start; the load uses an access token, as a CI job would.
IDP_PORT = 9444
TOKEN_SCRIPT = """
import datetime, json
from mlflow_oidc_auth.store import store
name = "bench@mlflow.test"
if not store.has_user(name):
    store.create_user(name, "Bench")
expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
record, token = store.create_user_token(name, "bench-" + str(expires.timestamp()), expires, "bench")
print(json.dumps([name, token]))
"""


def oidc_setup(workdir):
    """The provider (test CA, certificate, process) and the variables of a deploy in mode oidc."""
    gateway = sh(
        "docker",
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        "mlflow-provision-local",
    ).stdout.strip()
    tls = workdir / "tls"
    sh(
        "ansible-playbook",
        "-i",
        "localhost,",
        "tests/playbooks/test_ca.yml",
        "-e",
        json.dumps(
            {
                # The controller's own Python (an inventory of "localhost," would discover one).
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "mp_test_ca_dir": str(tls),
                "mp_test_ca_servers": [{"name": "idp", "dns": "idp.mlflow.test", "ip": gateway}],
            }
        ),
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )
    secret = workdir / "client_secret"
    secret.write_text(secrets.token_urlsafe(24))
    secret.chmod(0o600)
    sh(
        sys.executable,
        "tests/oidc/idp.py",
        "start",
        "--state",
        str(workdir / "idp"),
        "--address",
        gateway,
        "--port",
        str(IDP_PORT),
        "--cert",
        str(tls / "idp.pem"),
        "--key",
        str(tls / "idp.key"),
        "--ca",
        str(tls / "ca.pem"),
        "--secret-file",
        str(secret),
        "--redirect",
        "https://localhost:9443/callback",
        "--lifetime",
        "1800",
    )
    extra = workdir / "oidc.json"
    bundle = os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
    extra.write_text(
        json.dumps(
            {
                "mlflow_server_auth_enabled": True,
                "mlflow_server_auth_app": "oidc-auth",
                "mlflow_server_oidc_discovery_url": (
                    f"https://{gateway}:{IDP_PORT}/.well-known/openid-configuration"
                ),
                "mlflow_server_oidc_client_id": "mlflow",
                "mlflow_server_oidc_client_secret": secret.read_text(),
                "mlflow_server_oidc_user_groups": ["mlflow-users"],
                "mlflow_server_oidc_admin_groups": ["mlflow-admins"],
                "mlflow_server_oidc_redirect_uri": "https://localhost:9443/callback",
                "base_extra_ca_certificates": [
                    path for path in (bundle, str(tls / "ca.pem")) if Path(path).is_file()
                ],
            }
        )
    )
    extra.chmod(0o600)
    return extra


def oidc_token():
    """(user, access token) made through the app's store on the host, as the service account
    with the server's environment (the token a person makes on /oidc/ui)."""
    out = on_host(
        "systemd-run --quiet --wait --pipe --collect"
        " --property=EnvironmentFile=/etc/mlflow/mlflow.env --uid=mlflow"
        f" /opt/mlflow/current/bin/python -c '{TOKEN_SCRIPT}' 2>/dev/null"
    )
    return tuple(json.loads(out.splitlines()[-1]))


def direct_load(args):
    """Our instances without nginx: benchmarks/load.py inside the container (the instances listen
    on loopback), with the MLflow venv's Python, threads spread over both ports."""
    urls = ",".join(f"http://127.0.0.1:{port}" for port in (5001, 5002))
    rounds = [
        json.loads(
            on_host(
                f"/opt/mlflow/current/bin/python {IN_CONTAINER}/load.py {urls}"
                f" --threads {args.threads} --seconds {args.seconds}"
                " --units 'mlflow@[0-9]+|mariadb'"
            )
        )
        for _ in range(args.rounds)
    ]
    return median_load(rounds)


def build_plain_venv():
    """What a user of the plain server has: `pip install mlflow==<version>` in a venv of its own
    (bytecode compiled, as pip does), nothing else. Built from the host's warm uv cache."""
    on_host(
        "export UV_NATIVE_TLS=true UV_CACHE_DIR=/var/cache/mlflow-provision/uv"
        " UV_COMPILE_BYTECODE=true UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=true;"
        " /opt/mlflow/tools/bin/uv venv -q --python /usr/bin/python3 /opt/mlflow-plain &&"
        f" /opt/mlflow/tools/bin/uv pip install -q --python /opt/mlflow-plain/bin/python"
        f" mlflow=={VERSION}"
    )


def plain_server(args):
    """The plain `mlflow server` (defaults: SQLite in its working directory, 4 workers, job
    execution on) from its own venv, with our service stopped and its port opened."""
    on_host("systemctl stop mlflow.target nginx")
    on_host(
        "nft add rule inet mlflow_provision input tcp dport 5001 accept;"
        " rm -rf /var/lib/mlflow/plain && install -d -o mlflow -g mlflow /var/lib/mlflow/plain"
    )
    began = time.monotonic()
    on_host(
        "systemd-run --unit mlflow-plain --uid mlflow --gid mlflow"
        " --working-directory /var/lib/mlflow/plain -p KillMode=control-group"
        f" /opt/mlflow-plain/bin/mlflow server --host 0.0.0.0 --port {PLAIN_PORT}"
    )
    on_host(wait_for(f"http://127.0.0.1:{PLAIN_PORT}/health"))
    ready = time.monotonic() - began
    address = sh(
        "docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", HOST
    ).stdout.strip()
    time.sleep(10)  # the job runner and its consumers start after /health answers
    rss, processes = mlflow_rss_mb("mlflow-plain")
    url = f"http://{address}:{PLAIN_PORT}"
    result = measured_load(url, None, True, args, PLAIN_UNITS)
    # What its users do today to apply a change: restart it, under the same load.
    restart = load_during(
        url, None, True, args, lambda: on_host(f"systemctl restart mlflow-plain && {wait_for(url)}")
    )
    on_host("systemctl stop mlflow-plain; systemctl reload nftables")
    on_host("systemctl start mlflow.target nginx")
    return {
        **result,
        "rss_mb": rss,
        "processes": processes,
        "ready_s": [ready],
        "restart": restart,
    }


def load_during(url, auth, verify, args, action):
    """The load (as in the load phases) from 2 s before `action` until 2 s after it: its
    failed requests and latencies, and how long `action` took."""
    stop, box = threading.Event(), {}
    thread = threading.Thread(
        target=lambda: box.update(run_load(url, auth, verify, args.threads, 600, stop))
    )
    thread.start()
    time.sleep(2)
    began = time.monotonic()
    action()
    took = time.monotonic() - began
    time.sleep(2)
    stop.set()
    thread.join()
    return {**box, "action_s": took}


def rolling_restart(args):
    """playbooks/restart.yml under load, through nginx."""
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return lambda: sh("ansible-playbook", "-i", str(INVENTORY), "playbooks/restart.yml", env=env)


def arguments(description):
    """The options every bench takes (bench.py, bench_cluster.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=float, default=15.0, help="each load phase")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=3, help="load rounds per setup; the median is kept"
    )
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args()


def main():
    args = arguments(__doc__.splitlines()[0])

    sh("docker", "rm", "-f", HOST, check=False)
    shutil.rmtree(CREDENTIALS, ignore_errors=True)
    sh(
        "ansible-playbook",
        "-i",
        str(INVENTORY),
        "tests/playbooks/local_host.yml",
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )
    figures = {}
    print(f"bench: cold deploy of {HOST} ...", flush=True)
    cold, _, roles = playbook(profile=True)
    rerun, rerun_changed, _ = playbook()
    build_plain_venv()
    copy_tools()
    figures["deploy"] = {
        "cold_s": cold,
        "roles_s": roles,
        "rerun_s": rerun,
        "rerun_changed": rerun_changed,
    }

    workdir = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    try:
        certificate = workdir / "server.crt"
        certificate.write_text(on_host("cat /etc/ssl/certs/mlflow-provision.crt") + "\n")
        password = (CREDENTIALS / "mlflow.password").read_text().strip()

        print("bench: proxy mode ...", flush=True)
        proxy = measured_load(URL, ("mlflow", password), str(certificate), args, OURS_UNITS)
        proxy["rss_mb"], proxy["processes"] = mlflow_rss_mb("mlflow@[0-9]+")
        proxy["ready_s"] = ready_after_restart()
        print("bench: playbooks/restart.yml under load ...", flush=True)
        proxy["restart"] = load_during(
            URL, ("mlflow", password), str(certificate), args, rolling_restart(args)
        )
        figures["proxy"] = proxy

        print("bench: our instances without nginx (reference) ...", flush=True)
        direct = direct_load(args)
        direct["rss_mb"], direct["processes"] = proxy["rss_mb"], proxy["processes"]
        figures["direct"] = direct

        print("bench: auth mode mlflow (second deploy) ...", flush=True)
        user_password = secrets.token_urlsafe(24)
        extra = workdir / "auth.json"
        extra.write_text(
            json.dumps(
                {
                    "mlflow_server_auth_enabled": True,
                    "mlflow_server_auth_admin_password": secrets.token_urlsafe(24),
                    "mlflow_server_auth_users": [{"name": "bench", "password": user_password}],
                }
            )
        )
        extra.chmod(0o600)
        playbook("-e", f"@{extra}")
        auth = measured_load(URL, ("bench", user_password), str(certificate), args, OURS_UNITS)
        auth["rss_mb"], auth["processes"] = mlflow_rss_mb("mlflow@[0-9]+")
        auth["ready_s"] = ready_after_restart()
        figures["auth"] = auth

        # What the app provision-auth gives on its own: MLflow's basic-auth app alone.
        print(
            "bench: auth mode mlflow, MLflow's basic-auth app alone (third deploy) ...", flush=True
        )
        playbook("-e", f"@{extra}", "-e", "mlflow_server_auth_app=basic-auth")
        alone = measured_load(URL, ("bench", user_password), str(certificate), args, OURS_UNITS)
        alone["rss_mb"], alone["processes"] = mlflow_rss_mb("mlflow@[0-9]+")
        figures["auth_basic"] = alone

        print("bench: auth mode oidc with an access token (fourth deploy) ...", flush=True)
        playbook("-e", f"@{oidc_setup(workdir)}")
        oidc = measured_load(URL, oidc_token(), str(certificate), args, OURS_UNITS)
        oidc["rss_mb"], oidc["processes"] = mlflow_rss_mb("mlflow@[0-9]+")
        figures["oidc"] = oidc

        print("bench: plain mlflow server ...", flush=True)
        figures["plain"] = plain_server(args)
    finally:
        sh(
            sys.executable,
            "tests/oidc/idp.py",
            "stop",
            "--state",
            str(workdir / "idp"),
            check=False,
        )
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep:
            sh("docker", "rm", "-f", HOST, check=False)
    report(figures, args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def report(figures, args):
    plain, proxy, auth, direct = (
        figures["plain"],
        figures["proxy"],
        figures["auth"],
        figures["direct"],
    )
    alone = figures["auth_basic"]
    deploy = figures["deploy"]
    version = VERSION
    print(
        f"\n{args.threads} keep-alive client threads logging metrics for {args.seconds:.0f} s,"
        f" median of {args.rounds} rounds; one 2-core machine, client included"
    )
    print(
        f"{'':44} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'errors':>7} {'CPU/1k':>7}"
        f" {'RSS MB':>7} {'procs':>6} {'ready s':>8}"
    )
    rows = [
        (f"plain `mlflow server` {version}", plain),
        ("ours, proxy auth (nginx)", proxy),
        ("ours, auth mode mlflow (provision-auth)", auth),
        ("  the same, MLflow's basic-auth app alone", alone),
        ("ours, auth mode oidc (access token)", figures["oidc"]),
        ("ours, instances direct (no nginx, no auth)", direct),
    ]
    for label, row in rows:
        ready = f"{statistics.median(row['ready_s']):8.1f}" if row.get("ready_s") else f"{'-':>8}"
        print(
            f"{label:44} {row['rps']:7.1f} {row['p50_ms']:6.0f} {row['p95_ms']:6.0f}"
            f" {row['p99_ms']:6.0f} {row['errors']:7d} {row['cpu_ms_per_1000']:7.0f}"
            f" {row['rss_mb']:7.0f} {row['processes']:6d} {ready}"
        )
    print(
        "(latencies in ms; CPU/1k = CPU ms of the server's processes per 1,000 requests: MLflow,"
        " nginx, the database; ready = seconds to /health after a (re)start, median; the direct"
        " row's client runs inside the container, on loopback)"
    )
    for label, row in rows:
        ready = ", ".join(f"{value:.1f}" for value in row.get("ready_s", []))
        print(
            f"  {label}: req/s by round {row['rounds_rps']}; CPU/1k by round {row['rounds_cpu']}"
            + (f"; ready {ready}" if ready else "")
        )
    print(
        f"\nrestart under the same load: {'':16} {'took s':>7} {'requests':>9} {'failed':>7}"
        f" {'p99 ms':>7}"
    )
    for label, row in (
        ("plain: systemctl restart", plain["restart"]),
        ("ours: playbooks/restart.yml", proxy["restart"]),
    ):
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(row.get("error_kinds", {}).items()))
        print(
            f"  {label:42} {row['action_s']:7.1f} {row['requests']:9d} {row['errors']:7d}"
            f" {row['p99_ms']:7.0f}  {kinds}"
        )
    roles = ", ".join(f"{k} {float(v):.0f}" for k, v in deploy["roles_s"].items())
    print(f"cold deploy (fresh container, image present): {deploy['cold_s']:.0f} s ({roles})")
    print(f"idempotent re-run: {deploy['rerun_s']:.0f} s, changed={deploy['rerun_changed']}")
    targets = [
        (
            "proxy req/s >= 1.5x plain",
            proxy["rps"] >= 1.5 * plain["rps"],
            f"{proxy['rps'] / plain['rps']:.2f}x",
        ),
        ("proxy p95 <= 100 ms", proxy["p95_ms"] <= 100, f"{proxy['p95_ms']:.0f} ms"),
        ("auth mode p95 <= 100 ms", auth["p95_ms"] <= 100, f"{auth['p95_ms']:.0f} ms"),
        (
            "proxy CPU per 1k requests <= plain's",
            proxy["cpu_ms_per_1000"] <= plain["cpu_ms_per_1000"],
            f"{proxy['cpu_ms_per_1000']:.0f} vs {plain['cpu_ms_per_1000']:.0f} ms",
        ),
        (
            "auth mode req/s >= 1.0x plain",
            auth["rps"] >= plain["rps"],
            f"{auth['rps'] / plain['rps']:.2f}x",
        ),
        (
            "auth mode req/s >= 2x MLflow's app alone",
            auth["rps"] >= 2 * alone["rps"],
            f"{auth['rps'] / alone['rps']:.2f}x",
        ),
        (
            "auth mode oidc req/s >= 1.0x plain (a token)",
            figures["oidc"]["rps"] >= plain["rps"],
            f"{figures['oidc']['rps'] / plain['rps']:.2f}x",
        ),
        (
            "MLflow RSS <= 1.2 GB (2 instances of 1 worker, jobs off)",
            proxy["rss_mb"] <= 1229,
            f"{proxy['rss_mb']:.0f} MB",
        ),
        (
            "ready after restart <= 10 s",
            max(proxy["ready_s"]) <= 10,
            f"{max(proxy['ready_s']):.1f} s worst",
        ),
        ("cold deploy <= 120 s", deploy["cold_s"] <= 120, f"{deploy['cold_s']:.0f} s"),
        (
            "idempotent re-run <= 20 s, changed=0",
            deploy["rerun_s"] <= 20 and deploy["rerun_changed"] == 0,
            f"{deploy['rerun_s']:.0f} s, changed={deploy['rerun_changed']}",
        ),
        (
            "no failed request under load",
            proxy["errors"] + auth["errors"] + figures["oidc"]["errors"] == 0,
            f"{proxy['errors'] + auth['errors'] + figures['oidc']['errors']} errors",
        ),
        (
            "no failed request during restart.yml",
            proxy["restart"]["errors"] == 0,
            f"{proxy['restart']['errors']} of {proxy['restart']['requests']}",
        ),
        (
            "restart.yml p99 <= 1 s",
            proxy["restart"]["p99_ms"] <= 1000,
            f"{proxy['restart']['p99_ms']:.0f} ms",
        ),
        (
            "restart.yml <= 60 s (2 instances)",
            proxy["restart"]["action_s"] <= 60,
            f"{proxy['restart']['action_s']:.0f} s",
        ),
    ]
    print("\ntargets:")
    for label, met, figure in targets:
        print(f"  {'met ' if met else 'MISS'}  {label:45} {figure}")


if __name__ == "__main__":
    main()
