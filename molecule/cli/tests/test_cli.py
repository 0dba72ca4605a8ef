"""The `mlflow-provision` command against a real host, as an operator runs it. The tests run in
file order, each from the state the previous one left: bad input on the fresh host, a deploy
cancelled with Ctrl-C, the clean re-run with a planted secret, a second deploy that changes
nothing, the status as JSON, and the wheel installed into a clean venv outside the repository.
"""

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from mp_playbook import INVENTORY, ROOT, run_playbook

testinfra_hosts = ["ansible://mp-cli"]

HOST = "mp-cli"
CLI = ROOT / ".venv" / "bin" / "mlflow-provision"
# The basic-auth password the deploy gets through -e @file: it must appear nowhere.
SECRET = "PLANTED-cli-s3cret-7f3a9c2e81d4"
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


def _env(tmpdir=None, clean=False):
    """The CLI's environment: the user's shell, not molecule's Ansible settings (the CLI brings
    its own); TMPDIR where the test can see what a run leaves behind."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not (clean and key.startswith(("ANSIBLE_", "MOLECULE_", "PYTHONPATH", "VIRTUAL_ENV")))
    }
    if clean:
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return env


def _cli(*args, cli=CLI, cwd=None, env=None, timeout=1200):
    proc = subprocess.run(
        [str(cli), *args],
        cwd=cwd or ROOT,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc


def _json(proc):
    assert proc.stdout.lstrip().startswith("{"), proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def secrets_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("secrets") / "secrets.yml"
    # User `ci` gets a generated password (the deployment's secret store, here files in
    # nginx_tls_credentials_dir): the team-store tests below move it.
    path.write_text(
        f'nginx_tls_basic_auth_users:\n  - name: mlflow\n    password: "{SECRET}"\n  - name: ci\n'
    )
    path.chmod(0o600)
    return path


def _refused_deploy(*extra_vars):
    """The message of a deploy refused before any change (exit 3, nothing changed)."""
    args = [arg for value in extra_vars for arg in ("-e", value)]
    proc = _cli("deploy", "--json", "-i", str(INVENTORY), *args)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    result = _json(proc)
    assert result["status"] == "bad_input"
    assert result["changed_tasks"] == []
    [failure] = result["failures"]
    assert failure["host"] == HOST
    return failure["message"]


def test_bad_input_is_refused_before_any_change(host):
    message = _refused_deploy("mlflow_server_backend=oracle", '{"nginx_tls_https_port": 70000}')
    assert "mlflow_server_backend must be one of: sqlite, mysql, postgresql" in message
    assert "nginx_tls_https_port: 70000 is not a TCP port" in message
    # Nothing on the host: no MLflow, no nginx, no service account.
    assert not host.file("/opt/mlflow").exists
    assert not host.package("nginx").is_installed
    assert not host.user("mlflow").exists


def test_the_host_is_reached_over_ssh_as_a_sudo_user(host):
    """The path every Azure VM takes: the tests below must not pass through docker exec."""
    assert host.ansible.get_variables()["ansible_connection"] == "ssh"
    assert host.run("id -un").stdout.strip() == "azureuser"
    assert host.run("sudo -n true").rc == 0
    # sudo resets root's environment: the reason the lockout check reads SSH_CLIENT as the user.
    assert host.run("printenv SSH_CLIENT").stdout.startswith("172.")
    assert host.run("sudo -n printenv SSH_CLIENT").stdout == ""


def test_admin_ranges_without_the_controller_are_refused_before_any_change(host):
    """The firewall would drop the next SSH connection: refused, and SSH still answers."""
    message = _refused_deploy('{"base_firewall_admin_cidrs": ["10.0.0.0/8"]}')
    client = host.run("printenv SSH_CLIENT").stdout.split()[0]
    assert f"base_firewall_admin_cidrs: (10.0.0.0/8) does not contain {client}" in message
    assert not host.package("nftables").is_installed
    assert not host.package("nginx").is_installed
    assert host.run("true").rc == 0


def test_bad_option_and_missing_inventory_are_bad_input():
    proc = _cli("restore", "-i", str(INVENTORY))
    assert proc.returncode == 3
    assert "give one of --backup NAME or --from DIR" in proc.stderr
    proc = _cli("status", "-i", "/nonexistent/inventory", "--json")
    assert proc.returncode == 3
    assert "/nonexistent/inventory does not exist" in _json(proc)["error"]


def test_unreachable_host_has_its_exit_code(tmp_path):
    inventory = tmp_path / "hosts.yml"
    # SSH to a loopback port nothing listens on: refused at once.
    inventory.write_text(
        "mlflow_servers:\n  hosts:\n    mp-cli-missing:\n"
        "      ansible_host: 127.0.0.1\n      ansible_port: 1\n      ansible_connection: ssh\n"
    )
    proc = _cli("status", "--json", "-i", str(inventory))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    result = _json(proc)
    assert result["status"] == "unreachable"
    assert result["failures"][0]["kind"] == "unreachable"
    assert result["failures"][0]["host"] == "mp-cli-missing"


def test_ctrl_c_cancels_the_deploy(tmp_path):
    """Plain progress lines (stdout is not a terminal) say which task runs: Ctrl-C (SIGINT to
    the CLI alone, as a terminal sends it) once MLflow's role has begun configuring the host
    (the first play only checks every role's input)."""
    proc = subprocess.Popen(
        [str(CLI), "deploy", "-i", str(INVENTORY)],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines, configuring, deadline = [], False, time.monotonic() + 600
    for line in proc.stdout:
        lines.append(line)
        configuring = configuring or line.rstrip().endswith("PLAY Configure MLflow hosts")
        if configuring and "TASK mlflow_provision.tracking.mlflow_server : " in line:
            break
        if time.monotonic() > deadline:
            break
    assert configuring and "mlflow_server : " in lines[-1], "".join(lines)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    output = "".join(lines) + rest
    assert proc.returncode == 130, output
    # Within the runner's poll (0.5 s) and the process group's SIGKILL, not a task's length.
    assert time.monotonic() - started < 20
    assert "deploy: cancelled" in output
    assert "during 'mlflow_provision.tracking.mlflow_server : " in output
    assert "(Configure MLflow hosts)" in output
    assert "Run the same command again to finish" in output
    # The summary says what was done: the host's counts so far.
    assert HOST in rest and "changed" in rest
    # No ansible-playbook of it is left (only this scenario's runs name its inventory), and
    # its private directory is gone.
    leftover = subprocess.run(
        ["pgrep", "-f", f"ansible-playbook.*{INVENTORY}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert leftover.stdout == ""
    assert not list(tmp_path.glob("mlflow-provision-*"))


def _watch_processes(found, stop):
    """Every command line on the controller and on the host, while the deploy runs."""
    while not stop.is_set():
        for argv in (["ps", "-eo", "args"], ["docker", "exec", HOST, "ps", "-eo", "args"]):
            out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
            found += [line for line in out.splitlines() if SECRET in line]
        time.sleep(0.2)


def _private_dirs(tmpdir, modes):
    """The modes of the CLI's private directories, while they exist."""
    for path in Path(tmpdir).glob("mlflow-provision-*"):
        with contextlib.suppress(FileNotFoundError):
            modes.add(stat.S_IMODE(path.stat().st_mode))


def test_deploy_after_cancel_with_a_planted_secret(host, tmp_path, secrets_file):
    found, modes, stop = [], set(), threading.Event()
    watcher = threading.Thread(target=_watch_processes, args=(found, stop), daemon=True)
    watcher.start()
    proc = subprocess.Popen(
        [str(CLI), "deploy", "--json", "-i", str(INVENTORY), "-e", f"@{secrets_file}"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while proc.poll() is None:
        _private_dirs(tmp_path, modes)
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    stop.set()
    watcher.join()
    assert proc.returncode == 0, stdout + stderr
    result = json.loads(stdout)
    assert result["status"] == "successful"
    assert result["hosts"][HOST]["failed"] == 0
    # Ansible's recap also counts what its callbacks never report (meta: flush_handlers).
    assert result["hosts"][HOST]["changed"] >= len(result["changed_tasks"]) > 20
    assert {task["host"] for task in result["changed_tasks"]} == {HOST}
    # The basic-auth password was set: it opens MLflow through nginx.
    curl = host.run(
        f"curl -sk -o /dev/null -w '%{{http_code}}' -u 'mlflow:{SECRET}' "
        "https://127.0.0.1/api/2.0/mlflow/experiments/search?max_results=1"
    )
    assert curl.stdout == "200"
    # And it appears nowhere: output, JSON, command lines, what the run left behind.
    assert SECRET not in stdout + stderr
    assert found == []
    assert modes == {0o700}
    assert list(tmp_path.iterdir()) == []
    leftovers = subprocess.run(
        ["grep", "-rl", SECRET, str(Path.home() / ".ansible")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert leftovers.stdout == ""
    # Nor on the host: the temp and home directories of the login user and of root.
    on_host = host.run(
        f"sudo -n grep -rlF '{SECRET}' /tmp /var/tmp /home/azureuser /root 2>/dev/null"
    )
    assert on_host.stdout == "", on_host.stdout


def test_second_deploy_changes_nothing(secrets_file):
    proc = _cli("deploy", "--json", "-i", str(INVENTORY), "-e", f"@{secrets_file}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = _json(proc)
    assert result["changed_tasks"] == []
    assert result["hosts"][HOST]["changed"] == 0
    assert result["hosts"][HOST]["ok"] > 50


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """A team's ansible-vault store beside the inventory, its password in a file (as CI holds it),
    and the home directory of a second operator who has never deployed."""
    root = tmp_path_factory.mktemp("team")
    password = root / "vault-password"
    password.write_text("team-vault-password-cli-0123\n")
    password.chmod(0o600)
    settings = root / "team.yml"
    settings.write_text(
        "mlflow_provision_secrets_store: vault\n"
        f"mlflow_provision_secrets_vault_file: {root / 'secrets.vault.yml'}\n"
    )
    (root / "operator-b").mkdir()
    return root


def _curl(user, password):
    """The answer to a client with this password (not through testinfra's `host`: its tests
    are run apart from the others, and these must run after the second deploy)."""
    return subprocess.run(
        ["docker", "exec", HOST, "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
         "-u", f"{user}:{password}",
         "https://127.0.0.1/api/2.0/mlflow/experiments/search?max_results=1"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip


def _vault_values(team):
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret((team / "vault-password").read_text().strip().encode())
    plain = VaultLib([("default", secret)]).decrypt((team / "secrets.vault.yml").read_bytes())
    return yaml.safe_load(plain)["mlflow_provision_secrets"]


def _operator_b(team, *args, store=True):
    """A deploy by operator B: another home, no credentials directory of operator A's."""
    env = {**_env(), "HOME": str(team / "operator-b")}
    env.pop("XDG_CONFIG_HOME", None)
    extra = ["-e", f"nginx_tls_credentials_dir={team / 'operator-b' / 'credentials'}"]
    if store:
        extra += [
            "-e",
            f"@{team / 'team.yml'}",
            "--vault-password-file",
            str(team / "vault-password"),
        ]
    return _cli("deploy", "--json", "-i", str(INVENTORY), *extra, *args, env=env)


def test_a_team_store_takes_the_secrets_and_a_second_operator_changes_nothing(secrets_file, team):
    mine = (EPHEMERAL / "credentials" / "ci.password").read_text().strip()
    assert _curl("ci", mine) == "200"
    # Operator A points the inventory at the team's store: the values in use move there.
    a = _cli(
        "deploy", "--json", "-i", str(INVENTORY), "-e", f"@{secrets_file}",
        "-e", f"@{team / 'team.yml'}", "--vault-password-file", str(team / "vault-password"),
    )  # fmt: skip
    assert a.returncode == 0, a.stdout + a.stderr
    # The password and the self-signed pair were taken into the store; no host changed.
    assert {t["action"] for t in _json(a)["changed_tasks"]} == {
        "mlflow_provision.tracking.secrets",
        "mlflow_provision.tracking.nginx_tls_self_signed",
    }
    stored = _vault_values(team)
    assert sorted(stored) == [
        f"{HOST}/{name}" for name in ("ci.password", "server.crt", "server.key")
    ]
    assert stored[f"{HOST}/ci.password"] == mine
    # Operator B, with the store: nothing changes, A's clients keep their password.
    b = _operator_b(team, "-e", f"@{secrets_file}")
    assert b.returncode == 0, b.stdout + b.stderr
    result = _json(b)
    assert result["changed_tasks"] == [] and result["hosts"][HOST]["changed"] == 0
    assert _curl("ci", mine) == "200"
    assert not (team / "operator-b" / "credentials").exists()
    assert mine not in a.stdout + a.stderr + b.stdout + b.stderr


def test_without_the_store_a_second_operator_is_refused_before_any_change(secrets_file, team):
    mine = _vault_values(team)[f"{HOST}/ci.password"]
    proc = _operator_b(team, "-e", f"@{secrets_file}", store=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    result = _json(proc)
    assert result["status"] == "bad_input" and result["changed_tasks"] == []
    [failure] = result["failures"]
    assert "Secrets: nothing was changed on any host" in failure["message"]
    assert "secret ci.password is missing from the store" in failure["message"]
    assert f"{HOST} already uses one" in failure["message"]
    assert _curl("ci", mine) == "200"
    assert not (team / "operator-b" / "credentials" / "ci.password").exists()


def test_rotation_on_purpose_is_one_command(secrets_file, team):
    old = _vault_values(team)[f"{HOST}/ci.password"]
    proc = _operator_b(
        team, "-e", f"@{secrets_file}", "-e", '{"mlflow_provision_rotate": ["ci.password"]}'
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    new = _vault_values(team)[f"{HOST}/ci.password"]
    assert new != old
    assert _curl("ci", new) == "200"
    assert _curl("ci", old) == "401"
    assert _curl("mlflow", SECRET) == "200"
    assert new not in proc.stdout + proc.stderr
    listing = _operator_b_secrets(team, secrets_file)
    assert listing.returncode == 0, listing.stdout
    assert (
        f"ci.password  stored   ansible-vault file {team / 'secrets.vault.yml'}" in listing.stdout
    )
    assert new not in listing.stdout


def _operator_b_secrets(team, secrets_file):
    env = {**_env(), "HOME": str(team / "operator-b")}
    return _cli(
        "secrets", "--no-progress", "-i", str(INVENTORY), "-e", f"@{secrets_file}",
        "-e", f"@{team / 'team.yml'}",
        "--vault-password-file", str(team / "vault-password"), env=env,
    )  # fmt: skip


def test_upgrade_to_the_collections_pin_without_a_version():
    """The common case: `upgrade` with no --version (here ansible-playbook without -e, the
    same playbook) on a host already at the pin."""
    rc, out = run_playbook("upgrade.yml")
    assert rc == 0, out[-4000:]
    assert f"MLflow {_default_version()} serves on {HOST}" in out, out[-4000:]
    assert "no schema change" in out


def _default_version():
    defaults = (ROOT / "roles/mlflow_server/defaults/main.yml").read_text()
    return next(
        line.split('"')[1]
        for line in defaults.splitlines()
        if line.startswith("mlflow_server_version:")
    )


def _assert_healthy(data):
    mlflow = data[HOST]["mlflow"]
    assert mlflow["installed_version"] == _default_version()
    assert set(mlflow["instances"]) == {"5001", "5002"}
    for answer in mlflow["instances"].values():
        assert answer["health"] == "OK"
        assert answer["version"] == _default_version()
    assert mlflow["data"]["databases"]["database"]["kind"] == "sqlite"
    assert mlflow["data"]["databases"]["database"]["at_head"] is True
    assert data[HOST]["nginx"]["state"] == "active"
    assert data[HOST]["nginx"]["certificate"]["days_left"] > 300


def test_status_json():
    proc = _cli("status", "--json", "-i", str(INVENTORY))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = _json(proc)
    assert result["command"] == "status"
    assert result["changed_tasks"] == []
    _assert_healthy(result["data"])
    # The person's form: the same table playbooks/status.yml prints.
    proc = _cli("status", "--no-progress", "-i", str(INVENTORY))
    assert proc.returncode == 0
    assert f"{HOST}: MLflow {_default_version()}" in proc.stdout
    assert "status: successful in" in proc.stdout


def _verdict_of_status():
    proc = _cli("status", "--json", "-i", str(INVENTORY))
    result = _json(proc)
    assert result["exit_code"] == proc.returncode
    return proc.returncode, result["verdict"]


def test_status_says_degraded_then_down_with_instances_stopped(host):
    """A cron job or CI step learns from the exit code: 5 with one of two instances stopped,
    6 with both; the JSON and the table say which and why."""
    try:
        host.run_expect([0], "sudo -n systemctl stop mlflow@5002.service")
        code, verdict = _verdict_of_status()
        assert code == 5 and verdict["overall"] == "degraded", verdict
        [reason] = verdict["hosts"][HOST]["reasons"]
        assert reason.startswith("mlflow@5002 is down (") and "refused" in reason, reason
        host.run_expect([0], "sudo -n systemctl stop mlflow.target")
        proc = _cli("status", "--no-progress", "-i", str(INVENTORY))
        assert proc.returncode == 6, proc.stdout + proc.stderr
        assert "  verdict      DOWN: no MLflow instance answers /health" in proc.stdout
        assert "overall: DOWN (0 of 1 host healthy)" in proc.stdout
        assert "status: down in" in proc.stdout
    finally:
        host.run_expect([0], "sudo -n systemctl start mlflow.target")
        # Healthy again before the next test, as status judges it: both instances, and the
        # balancer's probe through nginx (a poll on the host: cheaper than more status runs).
        host.run_expect(
            [0],
            "timeout 120 sh -c 'until curl -sf -o /dev/null http://127.0.0.1:5001/health"
            " && curl -sf -o /dev/null http://127.0.0.1:5002/health"
            " && curl -skf -o /dev/null https://127.0.0.1/lb-health; do sleep 0.5; done'",
        )


def test_wheel_installed_outside_the_repository(tmp_path):
    """pip install of the built wheel into a clean venv; the command then runs from elsewhere
    with none of the repository's settings."""
    uv = ROOT / ".venv" / "bin" / "uv"
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    subprocess.run(
        [str(uv), "build", "--wheel", "--out-dir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = dist.glob("mlflow_provision-*.whl")
    subprocess.run(
        [str(uv), "venv", "-q", "--python", shutil.which("python3.11") or "python3", str(venv)],
        check=True,
    )
    subprocess.run(
        [str(uv), "pip", "install", "-q", "--python", str(venv / "bin/python"), str(wheel)],
        check=True,
    )
    site = next((venv / "lib").glob("python3*/site-packages"))
    bundled = site / "mlflow_provision/collections/ansible_collections/mlflow_provision/tracking"
    assert (bundled / "playbooks/site.yml").is_file()
    assert (bundled / "roles/mlflow_server/files/mlflow_provision_host/backups.py").is_file()
    assert (bundled / "playbooks/group_vars/all.yml").is_file()
    assert not (bundled / "molecule").exists() and not (bundled / "tests").exists()

    cli = venv / "bin" / "mlflow-provision"
    env = _env(clean=True)
    proc = _cli("--help", cli=cli, cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "deploy" in proc.stdout and "Exit codes" in proc.stdout
    proc = _cli("status", "--json", "-i", str(INVENTORY), cli=cli, cwd=work, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_healthy(_json(proc)["data"])
