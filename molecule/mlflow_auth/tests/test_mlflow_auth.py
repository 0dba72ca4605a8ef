"""Auth mode `mlflow`: MLflow's own users and permissions, declared in the inventory."""

import json
import re
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
from mp_https import Endpoint, container_address, login_statuses
from testinfra.modules.ansible import AnsibleException

testinfra_hosts = ["ansible://mp-auth"]

NAME = "mp-auth"
ADMIN = ("root-admin", "adm1n p@ss:w/rd%")
ALICE = ("alice", "alice password 1")
BOB = ("bob", "bob password 12")
CAROL = ("carol", "carol password 1")
DAVE = ("dave", "dave password 12")
PYTHON = "/opt/mlflow/current/bin/python"
# What molecule.yml declares, as the role hands it to the module mlflow_server_auth.
DESIRED = {
    "url": "http://127.0.0.1:5001",
    "auth_config": "/etc/mlflow/basic_auth.ini",
    "admin": {"username": ADMIN[0], "password": ADMIN[1]},
    "users": [
        {"name": "alice", "password": ALICE[1]},
        {"name": "bob", "password": BOB[1]},
        {"name": "carol", "password": CAROL[1]},
        {"name": "dave", "password": DAVE[1], "admin": True},
    ],
    "purge": True,
    "experiment_permissions": [
        {"user": "bob", "experiment": "bob-experiment", "permission": "MANAGE"},
        {"user": "carol", "experiment": "bob-experiment", "permission": "READ"},
        {"user": "alice", "experiment": "alice-experiment", "permission": "EDIT"},
    ],
    "model_permissions": [
        {"user": "bob", "model": "bob-model", "permission": "EDIT"},
        {"user": "carol", "model": "bob-model", "permission": "READ"},
    ],
}


@pytest.fixture(scope="module")
def site(host, tmp_path_factory):
    cafile = tmp_path_factory.mktemp("tls") / "server.pem"
    cafile.write_text(host.file("/etc/ssl/certs/mlflow-provision.crt").content_string)
    return Endpoint(container_address(host.backend.get_hostname()), NAME, cafile)


def call(site, auth, method, path, payload=None, query=None):
    """(status, parsed JSON or text) of one MLflow REST call through nginx."""
    if query:
        path += "?" + urllib.parse.urlencode(query)
    status, body, _ = site.request(
        path,
        auth=auth,
        method=method,
        data=json.dumps(payload).encode() if payload is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        return status, json.loads(body or b"{}")
    except ValueError:
        return status, body.decode(errors="replace")


def experiment_id(site, name):
    status, body = call(
        site,
        ADMIN,
        "GET",
        "/api/2.0/mlflow/experiments/get-by-name",
        query={"experiment_name": name},
    )
    assert status == 200, body
    return body["experiment"]["experiment_id"]


def create_run(site, auth, name):
    return call(
        site,
        auth,
        "POST",
        "/api/2.0/mlflow/runs/create",
        {"experiment_id": experiment_id(site, name), "start_time": 0},
    )[0]


def read_experiment(site, auth, name):
    return call(
        site,
        auth,
        "GET",
        "/api/2.0/mlflow/experiments/get",
        query={"experiment_id": experiment_id(site, name)},
    )[0]


def sync(host, desired):
    """Run the role's module mlflow_server_auth with a desired state, as the play does (the
    venv's Python, the auth database read as the service account)."""
    args = {
        "url": desired["url"],
        "auth_config": desired["auth_config"],
        "run_as": "mlflow",
        "admin_username": desired["admin"]["username"],
        "admin_password": desired["admin"]["password"],
        "users": desired["users"],
        "purge": desired["purge"],
        "experiment_permissions": desired["experiment_permissions"],
        "model_permissions": desired["model_permissions"],
    }
    try:
        result = host.ansible(
            "mlflow_provision.tracking.mlflow_server_auth",
            json.dumps(args),
            check=bool(desired.get("check")),
            extra_vars={"ansible_python_interpreter": PYTHON},
        )
    except AnsibleException as exc:
        result = exc.result
    # ansible-core 2.19's tree callback (testinfra reads its file) drops the `failed` key of a
    # failed result; the module's failures are the results that carry a message.
    if result.get("failed") or "msg" in result:
        return {"failed": True, "msg": result.get("msg", "")}
    return {"changed": result["changed"], "actions": result["actions"]}


def test_nginx_passes_credentials_and_mlflow_checks_them(site, host):
    nginx = host.file("/etc/nginx/nginx.conf").content_string
    assert "auth_basic_user_file" not in nginx
    assert 'proxy_set_header Authorization ""' not in nginx
    assert site.request("/health")[0] == 200
    status, _, headers = site.request("/api/2.0/mlflow/experiments/search?max_results=1")
    assert status == 401
    assert "Basic" in headers.get("WWW-Authenticate", "")
    assert (
        call(site, ("alice", "wrong password!"), "GET", "/api/2.0/mlflow/users/current")[0] == 401
    )
    assert call(site, ALICE, "GET", "/api/2.0/mlflow/users/current")[0] == 200


def test_declared_users_exist_with_their_admin_flags(site):
    status, body = call(site, ADMIN, "GET", "/api/2.0/mlflow/users/list")
    assert status == 200, body
    users = {u["username"]: u["is_admin"] for u in body["users"]}
    assert users == {"root-admin": True, "alice": False, "bob": False, "carol": False, "dave": True}


def test_private_by_default_other_users_cannot_read(site):
    # alice has no permission on bob's experiment, and the default is NO_PERMISSIONS.
    assert read_experiment(site, ALICE, "bob-experiment") == 403
    assert read_experiment(site, BOB, "alice-experiment") == 403


def test_read_user_can_read_but_not_log(site):
    assert read_experiment(site, CAROL, "bob-experiment") == 200
    assert create_run(site, CAROL, "bob-experiment") == 403


def test_owner_and_admins_can_log(site):
    assert create_run(site, BOB, "bob-experiment") == 200
    assert create_run(site, ALICE, "alice-experiment") == 200
    assert create_run(site, DAVE, "bob-experiment") == 200
    assert create_run(site, ADMIN, "alice-experiment") == 200


def test_model_permissions(site):
    def update(auth):
        return call(
            site,
            auth,
            "PATCH",
            "/api/2.0/mlflow/registered-models/update",
            {"name": "bob-model", "description": "set by the test"},
        )[0]

    get = {"name": "bob-model"}
    assert call(site, CAROL, "GET", "/api/2.0/mlflow/registered-models/get", query=get)[0] == 200
    assert update(CAROL) == 403
    assert update(BOB) == 200
    assert call(site, ALICE, "GET", "/api/2.0/mlflow/registered-models/get", query=get)[0] == 403


def test_reconciler_is_idempotent(host):
    result = sync(host, {**DESIRED, "check": True})
    assert result == {"changed": False, "actions": []}


def test_reconciler_fixes_drift_and_purges_unlisted_users(host, site):
    # Drift made behind the role's back: a changed grant, a changed password, an extra user.
    name = {
        "username": "carol",
        "resource_type": "experiment",
        "resource_id": experiment_id(site, "bob-experiment"),
    }
    drift = [
        ("POST", "/api/3.0/mlflow/users/permissions/revoke", name),
        ("POST", "/api/3.0/mlflow/users/permissions/grant", {**name, "permission": "EDIT"}),
        (
            "PATCH",
            "/api/2.0/mlflow/users/update-password",
            {"username": "alice", "password": "changed password"},
        ),
        (
            "POST",
            "/api/2.0/mlflow/users/create",
            {"username": "mallory", "password": "mallory password"},
        ),
    ]
    for method, path, payload in drift:
        assert call(site, ADMIN, method, path, payload)[0] == 200, path

    planned = sync(host, {**DESIRED, "check": True})
    assert sorted(planned["actions"]) == [
        "change EDIT to READ on experiment bob-experiment for user carol",
        "delete user mallory",
        "set the password of user alice",
    ]
    assert sync(host, DESIRED)["actions"] == planned["actions"]
    assert sync(host, DESIRED) == {"changed": False, "actions": []}
    assert create_run(site, CAROL, "bob-experiment") == 403
    assert call(site, ALICE, "GET", "/api/2.0/mlflow/users/current")[0] == 200


def test_wrong_admin_password_is_named(host):
    result = sync(
        host, {**DESIRED, "admin": {"username": ADMIN[0], "password": "not the password"}}
    )
    assert result["failed"] is True
    assert "cannot log in with mlflow_server_auth_admin_password" in result["msg"]
    assert "not the password" not in result["msg"]


def test_config_files_hold_secrets_safely(host):
    ini = host.file("/etc/mlflow/basic_auth.ini")
    assert (ini.user, ini.group, ini.mode) == ("mlflow", "mlflow", 0o600)
    text = ini.content_string
    assert "default_permission = NO_PERMISSIONS" in text
    assert "admin_username = root-admin" in text
    assert "database_uri = sqlite:////var/lib/mlflow/basic_auth.db" in text
    assert "auth_cache_ttl_seconds = 60" in text
    assert ADMIN[1] not in text
    env = host.file("/etc/mlflow/mlflow.env")
    assert (env.user, env.mode) == ("root", 0o600)
    key = re.search(
        r'^MLFLOW_FLASK_SERVER_SECRET_KEY="([A-Za-z0-9]{64})"$', env.content_string, re.M
    )
    assert key, "the Flask secret key is missing from the environment file"
    secret = host.file("/etc/mlflow/flask-secret-key")
    assert (secret.user, secret.mode) == ("root", 0o600)
    assert secret.content_string.strip() == key.group(1)
    unit = host.file("/etc/systemd/system/mlflow@.service").content_string
    assert "--app-name provision-auth" in unit  # mlflow_server_auth_app's default


def test_auth_database_is_a_private_sqlite_file(host):
    db = host.file("/var/lib/mlflow/basic_auth.db")
    assert (db.user, db.group) == ("mlflow", "mlflow")
    assert db.mode & 0o007 == 0
    query = "import sqlite3; c = sqlite3.connect('/var/lib/mlflow/basic_auth.db');"
    query += " print(' '.join(r[0] for r in c.execute('SELECT username FROM users ORDER BY 1')))"
    users = host.check_output(f'{PYTHON} -c "{query}"')
    assert users.split() == ["alice", "bob", "carol", "dave", "root-admin"]


def test_several_workers_serve_authenticated_requests(host, site):
    # Two instances; in each, uvicorn runs the auth app's factory and spawns one process per
    # worker. (Anchored, so that the pattern does not match the shell that runs pgrep.)
    uvicorns = host.check_output(
        "pgrep -f '^/opt/mlflow/venvs/[^ ]+/bin/python -m uvicorn .*--workers 2"
        " --factory mlflow_provision_auth:create_app'"
    ).split()
    assert len(uvicorns) == 2
    for uvicorn in uvicorns:
        workers = host.check_output(f"pgrep -P {uvicorn} -f multiprocessing.spawn | wc -l")
        assert int(workers) == 2

    def whoami(i):
        auth = (ALICE, BOB, CAROL, DAVE)[i % 4]
        return call(site, auth, "GET", "/api/2.0/mlflow/users/current")[0]

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert set(pool.map(whoami, range(60))) == {200}


def test_signup_form_works_across_workers(site):
    """The UI's CSRF token must validate in whichever instance and worker gets the POST (one
    secret key)."""
    for i in range(6):
        status, body, headers = site.request("/signup", auth=ADMIN)
        assert status == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', body.decode()).group(1)
        cookie = headers.get("Set-Cookie", "").split(";")[0]
        form = urllib.parse.urlencode(
            {"username": f"signup{i}", "password": "signup password", "csrf_token": token}
        ).encode()
        status, body, _ = site.request(
            "/api/2.0/mlflow/users/create-ui",
            auth=ADMIN,
            method="POST",
            data=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": cookie,
                "Referer": f"https://{NAME}/signup",
            },
        )
        assert status == 200 and b"Successfully signed up" in body, (i, status, body[:300])
    for i in range(6):
        assert (
            call(site, ADMIN, "DELETE", "/api/2.0/mlflow/users/delete", {"username": f"signup{i}"})[
                0
            ]
            == 200
        )


def test_restarts_start_cleanly_with_several_workers(host, site):
    """Known races (mlflow 9155, 19299): workers creating the admin or migrating at once. A
    restart of mlflow.target starts both instances, and their workers, at the same time."""
    for _ in range(2):
        since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
        host.run_expect([0], "systemctl restart mlflow.target")
        for port in (5001, 5002):
            host.run_expect(
                [0],
                f"for i in $(seq 90); do curl -sf http://127.0.0.1:{port}/health && exit 0;"
                " sleep 1; done; exit 1",
            )
        journal = host.check_output(f"journalctl -u 'mlflow@*' --no-pager -o cat --since '{since}'")
        for bad in ("Traceback", "IntegrityError", "Duplicate entry", "CSRF"):
            assert bad not in journal, journal[-3000:]
    assert call(site, BOB, "GET", "/api/2.0/mlflow/users/current")[0] == 200


def test_wrong_mlflow_logins_get_429_while_the_right_password_gets_200(host, site):
    # MLflow's own 401 goes through nginx's failure path: 10 failures (the default limit), then
    # 429 (molecule.yml: one more failure a minute, so a slow PBKDF2 check cannot earn one back).
    path = "/api/2.0/mlflow/users/current"
    wrong = login_statuses(host, NAME, path, ("alice", "not alice's password"), 12)
    assert [status for status, _ in wrong[:10]] == [401] * 10
    assert wrong[10:] == [(429, "60")] * 2
    assert login_statuses(host, NAME, path, ALICE, 10) == [(200, None)] * 10
    status, _, headers = site.request(path)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="mlflow"'


def test_no_job_execution_processes(host):
    processes = host.check_output("ps -eo args")
    assert "huey_consumer" not in processes
    assert "mlflow.server.jobs._job_runner" not in processes
    env = host.file("/etc/mlflow/mlflow.env").content_string
    assert 'MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"' in env


def test_the_auth_app_keeps_a_runs_experiment_but_decides_every_request(host, site):
    """mlflow_server_auth_app provision-auth (the default): each worker keeps which experiment
    a run belongs to; who may write to it is still decided per request, from the grants."""
    unit = host.check_output("systemctl cat mlflow@5001.service")
    assert "--app-name provision-auth" in unit
    assert host.run(f"{PYTHON} -c 'import mlflow_provision_auth'").rc == 0
    bob_experiment = experiment_id(site, "bob-experiment")
    status, body = call(
        site, BOB, "POST", "/api/2.0/mlflow/runs/create", {"experiment_id": bob_experiment}
    )
    assert status == 200, body
    run_id = body["run"]["info"]["run_id"]

    def log(auth, step):
        payload = {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 0, "step": step}
        return call(site, auth, "POST", "/api/2.0/mlflow/runs/log-metric", payload)[0]

    # Several calls each: nginx spreads them over both instances and their workers, so every
    # worker has the run's answer kept before the others ask.
    assert [log(BOB, step) for step in range(8)] == [200] * 8
    assert [log(CAROL, step) for step in range(8)] == [403] * 8  # READ only
    assert [log(ALICE, step) for step in range(8)] == [403] * 8  # no grant
    assert [log(DAVE, step) for step in range(4)] == [200] * 4  # admin
    # A grant given now counts at once (no grant is kept), and so does its removal (MLflow
    # 3.x's grants API, as the role's reconciler uses it).
    grant = {"username": "alice", "resource_type": "experiment", "resource_id": bob_experiment}
    path = "/api/3.0/mlflow/users/permissions"
    assert call(site, ADMIN, "POST", f"{path}/grant", {**grant, "permission": "EDIT"})[0] == 200
    try:
        assert [log(ALICE, step) for step in range(8)] == [200] * 8
    finally:
        assert call(site, ADMIN, "POST", f"{path}/revoke", grant)[0] == 200
    assert [log(ALICE, step) for step in range(8)] == [403] * 8
    # A run that does not exist is refused, not remembered.
    missing = {"run_id": "0" * 32, "key": "loss", "value": 1.0, "timestamp": 0, "step": 0}
    assert call(site, BOB, "POST", "/api/2.0/mlflow/runs/log-metric", missing)[0] == 403
