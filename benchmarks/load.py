"""A bounded load of MLflow's own hot path: N client threads, each with one keep-alive session
(as MLflow's client keeps), logging metrics to a run of its own for a fixed time.

Used by benchmarks/bench.py; runnable alone (also inside a host, with MLflow's venv, which has
requests: several URLs spread the threads over them; --units adds the server's CPU time):
  python benchmarks/load.py URL[,URL...] [--user U --password-file F] [--verify CA] [--seconds 15]
      [--units 'mlflow@[0-9]+|mariadb']
"""

import argparse
import json
import statistics
import threading
import time
import uuid
from pathlib import Path

import requests
from proc_cpu import units_cpu_usec

API = "/api/2.0/mlflow"


def _session(auth, verify):
    session = requests.Session()
    # Only what we pass: REQUESTS_CA_BUNDLE or a proxy from the environment would win otherwise.
    session.trust_env = False
    session.auth = auth
    session.verify = verify
    return session


def _runs(url, auth, verify, count):
    """An experiment of its own and one run per thread, made before the clock starts."""
    session = _session(auth, verify)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    created = session.post(f"{url}{API}/experiments/create", json={"name": name}, timeout=60)
    created.raise_for_status()
    experiment_id = created.json()["experiment_id"]
    runs = []
    for _ in range(count):
        run = session.post(
            f"{url}{API}/runs/create", json={"experiment_id": experiment_id}, timeout=60
        )
        run.raise_for_status()
        runs.append(run.json()["run"]["info"]["run_id"])
    return runs


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_load(url, auth=None, verify=True, threads=8, seconds=15.0, stop=None, cpu=None):
    """Returns {requests, errors, error_kinds, rps, p50_ms, p95_ms, p99_ms, mean_ms} and, when
    `cpu` (a callable giving the server's CPU microseconds so far) is given, cpu_ms_per_1000:
    the server's CPU time per 1,000 requests over the measured window. Stops by itself after
    `seconds`, or earlier once the threading.Event `stop` is set. `url`: one, or a list whose
    URLs the threads take in turn (the same server's instances: one database)."""
    urls = [item.rstrip("/") for item in ([url] if isinstance(url, str) else url)]
    runs = _runs(urls[0], auth, verify, threads)
    latencies, errors, error_kinds, lock = [], [0], {}, threading.Lock()
    start_gate = threading.Barrier(threads + 1)

    def worker(run_id, url):
        session = _session(auth, verify)
        mine, failed, step, kinds = [], 0, 0, {}
        start_gate.wait()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            step += 1
            body = {"run_id": run_id, "key": "loss", "value": 1.0 / step, "step": step}
            body["timestamp"] = int(time.time() * 1000)
            began = time.perf_counter()
            try:
                response = session.post(f"{url}{API}/runs/log-metric", json=body, timeout=30)
                ok, kind = response.status_code == 200, f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                ok, kind = False, type(exc).__name__
            elapsed = time.perf_counter() - began
            if ok:
                mine.append(elapsed)
            else:
                failed += 1
                kinds[kind] = kinds.get(kind, 0) + 1
                # No retry (the failure counts), but a pause: a refused connection returns at
                # once, and threads looping on refusals (a balancer with no host in an
                # upgrade's write window) would take the CPU the window itself needs.
                time.sleep(0.05)
        with lock:
            latencies.extend(mine)
            errors[0] += failed
            for kind, count in kinds.items():
                error_kinds[kind] = error_kinds.get(kind, 0) + count

    pool = [
        threading.Thread(target=worker, args=(run_id, urls[index % len(urls)]))
        for index, run_id in enumerate(runs)
    ]
    for thread in pool:
        thread.start()
    cpu_before = cpu() if cpu else None
    start_gate.wait()
    began = time.monotonic()
    for thread in pool:
        thread.join()
    wall = time.monotonic() - began
    cpu_used = (cpu() - cpu_before) if cpu else None
    total = len(latencies) + errors[0]
    return {
        "requests": total,
        "errors": errors[0],
        "error_kinds": error_kinds,
        "rps": len(latencies) / wall,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        **({"cpu_ms_per_1000": cpu_used / 1000 / max(total, 1) * 1000} if cpu else {}),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--user")
    parser.add_argument("--password-file", type=Path)
    parser.add_argument("--verify", default=None, help="CA bundle for HTTPS")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--units", help="the server's systemd units (a regular expression)")
    args = parser.parse_args()
    auth = (args.user, args.password_file.read_text().strip()) if args.user else None
    result = run_load(
        args.url.split(","),
        auth,
        args.verify or True,
        args.threads,
        args.seconds,
        cpu=(lambda: units_cpu_usec(args.units)) if args.units else None,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
