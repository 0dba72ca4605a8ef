"""A mixed load of raw HTTPS requests through nginx, without client retries, while something
else happens (a rolling restart, a deploy, a killed instance). Every request counts: a status
other than 200, a reset or a timeout is a failure, recorded with what it was.

By default each request opens its own connection (as curl or a load balancer's probe would).
`keepalive=N` makes N of the threads keep one HTTP/1.1 connection open across their requests,
as Java/R clients and OTLP exporters do, still without retries: a connection that nginx's
reload closed under a request is a failure, which HTTP lets clients retry (MLflow's client
does) and this load must not hide. A keep-alive thread opens a new connection only where the
server said `Connection: close` or after a failure. After a failure a thread pauses 50 ms.
"""

import http.client
import json
import os
import threading
import time
import uuid
from base64 import b64encode

API = "/api/2.0/mlflow"


class Load:
    def __init__(self, endpoint, auth, threads=4, max_seconds=300, keepalive=0, host_header=None):
        self.endpoint, self.threads, self.max_seconds = endpoint, threads, max_seconds
        self.keepalive, self.local = keepalive, threading.local()
        token = b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Host": host_header or endpoint.name}
        self.results, self.lock = [], threading.Lock()
        self.stop_event, self.pool = threading.Event(), []

    def request(self, method, path, body=None, content_type="application/json"):
        """(status or error text, body, seconds)."""
        keep = getattr(self.local, "keepalive", False)
        conn = getattr(self.local, "conn", None) if keep else None
        if conn is None:
            conn = http.client.HTTPSConnection(
                self.endpoint.address,
                self.endpoint.port,
                timeout=60,
                # The chain is verified against the test CA; the connection goes to the
                # container's address while the certificate names the host, so the name is
                # checked elsewhere.
                context=self.endpoint.context(check_hostname=False),
            )
        began = time.perf_counter()
        reuse = False
        try:
            headers = dict(self.headers) if keep else dict(self.headers, Connection="close")
            if body is not None:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            reuse = keep and not response.will_close
            return response.status, data, time.perf_counter() - began
        except (OSError, http.client.HTTPException) as exc:
            return f"{type(exc).__name__}: {exc}", b"", time.perf_counter() - began
        finally:
            if reuse:
                self.local.conn = conn
            else:
                conn.close()
                self.local.conn = None

    def _api(self, method, endpoint, payload):
        status, data, _ = self.request(method, f"{API}/{endpoint}", json.dumps(payload).encode())
        assert status == 200, (endpoint, status, data[:300])
        return json.loads(data)

    def _prepare(self):
        experiment = self._api(
            "POST", "experiments/create", {"name": f"mp-load-{uuid.uuid4().hex[:8]}"}
        )["experiment_id"]
        self.experiment = experiment
        runs = []
        for _ in range(self.threads):
            run = self._api("POST", "runs/create", {"experiment_id": experiment})["run"]["info"]
            runs.append((run["run_id"], run["artifact_uri"].removeprefix("mlflow-artifacts:/")))
        return runs

    def _worker(self, index, run_id, artifact_root):
        self.local.keepalive = index < self.keepalive
        step, payload = 0, os.urandom(64 * 1024)
        deadline = time.monotonic() + self.max_seconds
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            step += 1
            kind = step % 4
            if kind in (0, 1):
                body = {"run_id": run_id, "key": "loss", "value": 1.0 / step, "step": step,
                        "timestamp": int(time.time() * 1000)}  # fmt: skip
                op = (
                    "POST log-metric",
                    "POST",
                    f"{API}/runs/log-metric",
                    json.dumps(body).encode(),
                )
            elif kind == 2:
                op = ("GET search", "GET", f"{API}/experiments/search?max_results=5", None)
            else:
                path = (
                    f"/api/2.0/mlflow-artifacts/artifacts/{artifact_root.lstrip('/')}/f{step}.bin"
                )
                status, _, seconds = self.request("PUT", path, payload, "application/octet-stream")
                self._record("PUT artifact", status, seconds)
                if status == 200:
                    status, data, seconds = self.request("GET", path)
                    if status == 200 and data != payload:
                        status = "GET artifact: different bytes"
                    self._record("GET artifact", status, seconds)
                continue
            status, _, seconds = self.request(op[1], op[2], op[3])
            self._record(op[0], status, seconds)

    def _record(self, op, status, seconds):
        with self.lock:
            self.results.append((time.monotonic(), op, status, seconds))
        if status != 200:
            # Still no retry (the failure counts), but a pause before the next request: a
            # refused connection returns at once, and a thread that loops on refusals (a
            # balancer with no host in the write window) would take the CPU the window needs.
            time.sleep(0.05)

    def __enter__(self):
        runs = self._prepare()
        self.pool = [
            threading.Thread(target=self._worker, args=(index, *run), daemon=True)
            for index, run in enumerate(runs)
        ]
        for thread in self.pool:
            thread.start()
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for thread in self.pool:
            thread.join(timeout=120)

    @property
    def failures(self):
        return [r for r in self.results if r[2] != 200]

    def summary(self):
        by_op = {}
        for _, op, status, _ in self.results:
            ok, failed = by_op.get(op, (0, 0))
            by_op[op] = (ok + (status == 200), failed + (status != 200))
        return {"requests": len(self.results), "failed": len(self.failures), "by_op": by_op,
                "failures": [(round(t - self.started, 2), op, status)
                             for t, op, status, _ in self.failures[:10]]}  # fmt: skip
