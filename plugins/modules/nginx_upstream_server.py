#!/usr/bin/python
"""Take servers of nginx's upstream out of rotation (drained) or put them back (active), with a
reload that drops no connection, and wait until nginx's connections to a drained server end."""

DOCUMENTATION = r"""
module: nginx_upstream_server
short_description: Drain servers of an nginx upstream file, or put them back.
description:
  - Edits the upstream file that role nginx_tls renders (one C(server HOST:PORT ...;) line per MLflow
    instance), adding or removing nginx's C(down) parameter on the line of O(server) (or of each of O(servers)).
  - After a change it checks the whole configuration (C(nginx -t)), reloads nginx gracefully (through
    C(systemctl reload) when O(service) runs nginx, so that the unit's own reload applies - role
    nginx_tls's first answers keep-alive clients with C(Connection close)) and waits
    until every worker that took requests before the reload has retired, so that no new request
    reaches a drained server once the module returns.
  - With O(state=drained) it then waits up to O(drain_timeout) seconds until nginx holds no
    established connection to the server (requests in flight have finished).
  - It never drains the last server that is still active (nginx would answer every request with 502);
    it reports that instead, and the caller restarts without a drain. With O(last=true) it does
    (an upgrade's write window, in which no instance may take a request).
  - When nginx does not run, the file is changed without a reload (nginx reads it when it starts).
  - A missing upstream file or a server the file does not list is not an error (no proxy, or a new
    instance nginx does not know yet); nothing is changed then.
options:
  path:
    type: path
    required: true
    description: The upstream file (role nginx_tls writes /etc/nginx/mlflow-upstream.conf).
  server:
    type: str
    description: The server as the file lists it, HOST:PORT (this or O(servers)).
  servers:
    type: list
    elements: str
    description:
      - Several servers, each HOST:PORT, changed together with one reload and one wait (an
        upgrade's write window drains every instance at once). Instead of O(server).
  state:
    type: str
    choices: [drained, active]
    default: drained
    description: Whether nginx may send it (them) new requests.
  drain_timeout:
    type: int
    default: 30
    description: Seconds to wait for nginx's connections to a drained server to end (0 does not wait).
  reload_timeout:
    type: int
    default: 30
    description: Seconds to wait for the workers of the old configuration to retire.
  service:
    type: str
    default: nginx
    description: The systemd unit (without C(.service)) that runs nginx; C(nginx -s reload) when it does not run it.
  last:
    type: bool
    default: false
    description:
      - Drain the server even when it is the last active one. nginx then answers every request
        with 502, which role nginx_tls turns into 503 with a Retry-After header.
author:
  - mlflow-provision developers (@mlflow-provision)
"""

EXAMPLES = r"""
- name: Take the instance on port 5000 out of rotation
  mlflow_provision.tracking.nginx_upstream_server:
    path: /etc/nginx/mlflow-upstream.conf
    server: 127.0.0.1:5000
    state: drained

- name: Take every instance out of rotation at once (nginx answers 503 meanwhile)
  mlflow_provision.tracking.nginx_upstream_server:
    path: /etc/nginx/mlflow-upstream.conf
    servers: [127.0.0.1:5000, 127.0.0.1:5001]
    state: drained
    last: true

- name: Put it back
  mlflow_provision.tracking.nginx_upstream_server:
    path: /etc/nginx/mlflow-upstream.conf
    server: 127.0.0.1:5000
    state: active
"""

RETURN = r"""
servers: {description: "Every server of the file and whether it is down, after the change.", type: dict, returned: always}
drained: {description: Whether the server (every one of O(servers)) is now out of rotation., type: bool, returned: always}
connections_left: {description: "Connections nginx still held to the drained servers when the wait ended.", type: int, returned: when drained}
waited: {description: Seconds spent waiting for the reload and the drain., type: float, returned: always}
"""

import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mlflow_provision.tracking.plugins.module_utils import nginx_upstream as nu

NGINX_PID_FILE = "/run/nginx.pid"


def _master_pid():
    """nginx's master process, or None when nginx does not run."""
    try:
        with open(NGINX_PID_FILE) as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _write(path, text):
    """Replace the file atomically, keeping its mode and owner."""
    st = os.stat(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".mlflow-upstream.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _reload_command(module, nginx, master, service):
    """systemd's reload of the unit when it runs this nginx (its ExecReload may do more than a
    signal), else nginx's own."""
    systemctl = module.get_bin_path("systemctl")
    if systemctl:
        rc, out, _err = module.run_command(
            [systemctl, "show", "-p", "MainPID", "--value", f"{service}.service"]
        )
        if rc == 0 and out.strip() == str(master):
            return [systemctl, "reload", f"{service}.service"]
    return [nginx, "-s", "reload"]


def _reload(module, nginx, timeout):
    """Reload nginx and wait until the workers of the old configuration stop taking requests."""
    rc, out, err = module.run_command([nginx, "-t", "-q"])
    if rc != 0:
        return f"nginx -t failed: {(err or out).strip()}"
    master = _master_pid()
    if master is None:
        return None  # nginx is not running: it reads the file when it starts
    before = nu.worker_pids(master)
    command = _reload_command(module, nginx, master, module.params["service"])
    rc, out, err = module.run_command(command)
    if rc != 0:
        return f"{' '.join(command)} failed: {(err or out).strip()}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = nu.worker_pids(master)
        # New workers took over when none of the old ones still takes requests.
        if now and not (now & before):
            return None
        time.sleep(0.1)
    return f"nginx did not finish its reload within {timeout} s (old workers still take requests)"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            server=dict(type="str"),
            servers=dict(type="list", elements="str"),
            state=dict(type="str", choices=["drained", "active"], default="drained"),
            drain_timeout=dict(type="int", default=30),
            reload_timeout=dict(type="int", default=30),
            service=dict(type="str", default="nginx"),
            last=dict(type="bool", default=False),
        ),
        required_one_of=[("server", "servers")],
        mutually_exclusive=[("server", "servers")],
        supports_check_mode=True,
    )
    path, state = module.params["path"], module.params["state"]
    targets = [module.params["server"]] if module.params["server"] else module.params["servers"]
    for server in targets:
        try:
            nu.parse_address(server)
        except ValueError as exc:
            module.fail_json(msg=f"server: {exc}")
    named = ", ".join(targets)
    started = time.monotonic()
    result = dict(changed=False, servers={}, drained=False, waited=0.0)

    if not os.path.exists(path):
        module.exit_json(msg=f"{path} does not exist: no proxy to drain", **result)
    with open(path) as handle:
        text = handle.read()
    listed = nu.servers(text)
    result["servers"] = listed
    # A server the file does not list (a new instance nginx does not know yet) is left alone.
    targets = [server for server in targets if server in listed]
    if not targets:
        module.exit_json(msg=f"{named} is not listed in {path}: nothing to do", **result)

    want_down = state == "drained"
    if (
        want_down
        and not module.params["last"]
        and not [a for a, down in listed.items() if a not in targets and not down]
    ):
        only = "the only active server" if len(targets) == 1 else "all the active servers"
        module.exit_json(
            msg=f"{named}: {only} in {path}: not drained (nginx would answer 502)", **result
        )
    changing = [server for server in targets if listed[server] != want_down]
    if changing:
        result["changed"] = True
        result["servers"] = dict(listed, **dict.fromkeys(changing, want_down))
        if not module.check_mode:
            new_text = text
            for server in changing:
                new_text = nu.set_down(new_text, server, want_down)
            _write(path, new_text)
            problem = _reload(
                module, module.get_bin_path("nginx", required=True), module.params["reload_timeout"]
            )
            if problem:
                # Leave nginx as it was: the previous file, and a configuration that loads.
                _write(path, text)
                module.fail_json(msg=problem, **result)
    result["drained"] = want_down

    if want_down and not module.check_mode:
        deadline = time.monotonic() + module.params["drain_timeout"]

        def left_now():
            tables = nu.read_tcp_tables()
            return sum(nu.established_to(server, tables) for server in targets)

        left = left_now()
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = left_now()
        result["connections_left"] = left
    result["waited"] = round(time.monotonic() - started, 2)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
