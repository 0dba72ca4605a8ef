"""The full stack (playbooks/deploy.yml): what a data scientist and an operator rely on."""

import hashlib
import json
import os
import ssl
import time
import urllib.parse
from pathlib import Path

import pytest
from mp_https import Endpoint, connects, container_address

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
NAME = "mp-stack"
DB_PASSWORD = "p@ss:w/rd%#?&[]= 'q\"%41"


@pytest.fixture(scope="module")
def site(host, tmp_path_factory):
    # The self-signed certificate is its own trust anchor: take it from the host.
    cafile = tmp_path_factory.mktemp("tls") / "server.pem"
    cafile.write_text(host.file("/etc/ssl/certs/mlflow-provision.crt").content_string)
    return Endpoint(container_address(host.backend.get_hostname()), NAME, cafile)


@pytest.fixture(scope="module")
def auth():
    password = (EPHEMERAL / "credentials" / "mlflow.password").read_text().strip()
    return ("mlflow", password)


def _api(site, auth, method, endpoint, payload=None):
    data = json.dumps(payload).encode() if payload is not None else None
    status, body, _ = site.request(
        f"/api/2.0/mlflow/{endpoint}",
        auth=auth,
        method=method,
        data=data,
        headers={"Content-Type": "application/json"},
    )
    assert status == 200, (endpoint, status, body[:500])
    return json.loads(body or b"{}")


@pytest.mark.parametrize(
    "service", ["mariadb", "mlflow@5001", "mlflow@5002", "mlflow.target", "nginx", "nftables"]
)
def test_services_active_and_enabled(host, service):
    svc = host.service(service)
    assert svc.is_enabled
    assert host.run(f"systemctl is-active {service}").stdout.strip() == "active"


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        (443, ["0.0.0.0:443"]),
        (80, ["0.0.0.0:80"]),
        (5000, ["0.0.0.0:5000"]),
        (5001, ["127.0.0.1:5001"]),
        (5002, ["127.0.0.1:5002"]),
        (3306, ["127.0.0.1:3306"]),
    ],
)
def test_listeners(host, port, expected):
    lines = host.check_output(f"ss -Htln 'sport = :{port}'").splitlines()
    assert sorted(line.split()[3] for line in lines if line.strip()) == expected


def test_health_through_nginx_without_credentials(site):
    assert site.request("/health")[:2] == (200, b"OK")


def test_api_needs_credentials(site, auth):
    assert site.request("/api/2.0/mlflow/experiments/search?max_results=1")[0] == 401
    assert (
        site.request("/api/2.0/mlflow/experiments/search?max_results=1", auth=("mlflow", "wrong"))[
            0
        ]
        == 401
    )
    assert site.request("/api/2.0/mlflow/experiments/search?max_results=1", auth=auth)[0] == 200


def test_http_redirects_to_https(site):
    head = site.plain_http("/#/experiments")
    assert head[0] == "HTTP/1.1 301 Moved Permanently"
    assert f"Location: https://{NAME}/#/experiments" in head


def test_tls_1_1_refused_1_2_and_1_3_accepted(site):
    assert site.negotiates(ssl.TLSVersion.TLSv1_1) is None
    assert site.negotiates(ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert site.negotiates(ssl.TLSVersion.TLSv1_3) == "TLSv1.3"


def test_self_signed_certificate_names_the_host(site):
    # Verification for NAME succeeded in the fixture's context: check the SANs directly too.
    with site.connect() as tls:
        sans = [value for kind, value in tls.getpeercert()["subjectAltName"]]
    assert NAME in sans


def test_env_file_is_root_only_and_holds_the_encoded_uri(host):
    env = host.file("/etc/mlflow/mlflow.env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    encoded = urllib.parse.quote(DB_PASSWORD, safe="")
    assert (
        f'MLFLOW_BACKEND_STORE_URI="mysql+pymysql://mlflow:{encoded}@127.0.0.1:3306/mlflow?charset=utf8mb4"'
        in (env.content_string)
    )


def test_no_secret_on_any_command_line(host, auth):
    cmdlines = host.check_output("ps -eo args")
    for secret in (DB_PASSWORD, urllib.parse.quote(DB_PASSWORD, safe=""), auth[1], "mysql+pymysql"):
        assert secret not in cmdlines


def test_mlflow_uses_mysql_with_the_symbol_password(host):
    # MLflow's tables are in MariaDB, created through the URI with the encoded password.
    tables = host.check_output("mariadb -N -e 'SHOW TABLES' mlflow").split()
    assert {"experiments", "runs", "registered_models", "alembic_version"} <= set(tables)
    assert "sqlite" not in host.check_output("ls /var/lib/mlflow")


def test_firewall_keeps_mlflow_port_private(site):
    assert connects(site.address, 443)
    assert not connects(site.address, 5001)
    assert not connects(site.address, 5002)
    assert not connects(site.address, 3306)


def test_private_port_is_nginx_with_the_same_credentials(site, auth):
    """In-network clients (the controller is in base_firewall_private_cidrs here) reach nginx on
    5000, MLflow's usual port: TLS with the same certificate, the same users as 443. Before,
    MLflow itself answered there, to anyone in those networks, without credentials."""
    private = Endpoint(site.address, NAME, site.cafile, port=5000)
    assert private.request("/health")[:2] == (200, b"OK")
    path = "/api/2.0/mlflow/experiments/search?max_results=1"
    # Refused as on 443, and counted by the same failed-login throttle (429 once used up).
    assert private.request(path)[0] in (401, 429)
    assert private.request(path, auth=(auth[0], "wrong"))[0] in (401, 429)
    status, body, _ = private.request(path, auth=auth)
    assert status == 200, body[:300]
    assert private.plain_http("/health", port=5000)[0].startswith("HTTP/1.1 400")


def test_registered_model_created_through_the_api_is_listed(site, auth):
    name = f"mp-model-{time.time_ns()}"
    _api(site, auth, "POST", "registered-models/create", {"name": name})
    query = urllib.parse.quote(f"name='{name}'")
    listed = _api(site, auth, "GET", f"registered-models/search?filter={query}")
    assert [m["name"] for m in listed["registered_models"]] == [name]


def test_artifact_through_the_proxy_downloads_byte_identical(host, site, auth):
    experiment = _api(
        site, auth, "POST", "experiments/create", {"name": f"mp-artifacts-{time.time_ns()}"}
    )
    run = _api(site, auth, "POST", "runs/create", {"experiment_id": experiment["experiment_id"]})[
        "run"
    ]
    root = run["info"]["artifact_uri"]
    assert root.startswith("mlflow-artifacts:/")
    relative = root.removeprefix("mlflow-artifacts:/").lstrip("/")
    path = f"/api/2.0/mlflow-artifacts/artifacts/{relative}/data.bin"
    payload = os.urandom(24 * 1024 * 1024)
    status, _, _ = site.request(
        path,
        auth=auth,
        method="PUT",
        data=payload,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert status == 200
    status, body, _ = site.request(path, auth=auth)
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(payload).hexdigest()
    # Stored by the server on its disk, owned by the service account.
    stored = host.file("/var/lib/mlflow/artifacts/" + path.split("/artifacts/", 1)[1])
    assert stored.user == "mlflow"
    assert stored.size == len(payload)


def test_job_execution_off_by_default(host):
    """No job runner or huey consumers (about 270 MB each) unless they are asked for."""
    units = host.check_output("systemctl status 'mlflow@*' --no-pager -l")
    assert "huey_consumer" not in units
    assert "mlflow.server.jobs" not in units
    # Per instance: `mlflow server` and the one uvicorn process it starts (one worker).
    assert int(host.check_output("pgrep -u mlflow -c -f 'mlflow server'")) == 2
    assert int(host.check_output("pgrep -u mlflow -c -f 'python -m uvicorn'")) == 2


def test_mlflow_starts_after_the_local_database_only(host):
    # deploy.yml adds role mysql's unit to the mlflow_server_after_units of the inventory.
    after = host.run("systemctl show -p After --value mlflow@5001.service").stdout.split()
    assert "mariadb.service" in after
    assert "time-sync.target" in after
    assert "mysql.service" not in after


def _environ(host, pid):
    raw = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    return dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)


def test_ai_gateway_passphrase_is_generated_root_only_and_shared_by_every_worker(host):
    """MLflow's published default passphrase is never used: one generated on the host, the same
    in every instance's workers, on no command line and in no log."""
    kek = host.file("/etc/mlflow/crypto-kek-passphrase")
    assert (kek.user, kek.group, kek.mode) == ("root", "root", 0o600)
    passphrase = kek.content_string.strip()
    assert len(passphrase) == 64 and passphrase.isalnum()
    pids = host.check_output("pgrep -u mlflow -f 'python -m uvicorn'").split()
    assert len(pids) == 2
    for pid in pids:
        env = _environ(host, pid)
        assert env["MLFLOW_CRYPTO_KEK_PASSPHRASE"] == passphrase
        assert env["MLFLOW_CRYPTO_KEK_VERSION"] == "1"
        assert env["MLFLOW_ENABLE_AI_GATEWAY"] == "true"
        assert env["MLFLOW_MODEL_CATALOG_URI"] == ""
    assert passphrase not in host.check_output("ps -eo args")
    assert passphrase not in host.check_output("journalctl --no-pager -o cat")


def test_ai_gateway_says_it_does_not_use_the_default_passphrase(site, auth):
    status, body, _ = site.request("/ajax-api/3.0/mlflow/gateway/secrets/config", auth=auth)
    assert status == 200, body[:300]
    assert json.loads(body) == {"secrets_available": True, "using_default_passphrase": False}


def test_ai_gateway_model_list_answers_without_internet(site, auth):
    """MLflow's default fetches its model catalog from GitHub with retries (over 120 s on a host
    without outbound Internet); the catalog shipped with MLflow answers at once."""
    for provider in ("openai", "anthropic", ""):
        started = time.monotonic()
        query = f"?provider={provider}" if provider else ""
        status, body, _ = site.request(
            f"/ajax-api/3.0/mlflow/gateway/supported-models{query}", auth=auth
        )
        took = time.monotonic() - started
        assert status == 200, (provider, body[:300])
        assert json.loads(body)["models"], provider
        # A wide bound (the machine is shared): the download it replaces took minutes.
        assert took < 10, (provider, took)


def test_long_query_strings_reach_mlflow(site, auth):
    """get-history-bulk with 300 run ids (~14 KB of query, as MLflow's REST tests send): MLflow's
    own JSON answer, not nginx's 414."""
    query = "&".join(f"run_id={index:032x}" for index in range(300)) + "&metric_key=loss"
    status, body, headers = site.request(
        f"/ajax-api/2.0/mlflow/metrics/get-history-bulk?{query}", auth=auth
    )
    assert status != 414, body[:300]
    assert headers["Content-Type"].startswith("application/json"), (status, body[:300])
    assert "error_code" in json.loads(body) or "metrics" in json.loads(body)


def _run_with_artifact(site, auth, experiment_id, name):
    run = _api(site, auth, "POST", "runs/create", {"experiment_id": experiment_id})["run"]
    relative = run["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/").lstrip("/")
    status, _, _ = site.request(
        f"/api/2.0/mlflow-artifacts/artifacts/{relative}/{name}.txt",
        auth=auth,
        method="PUT",
        data=name.encode(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert status == 200
    _api(site, auth, "POST", "runs/delete", {"run_id": run["info"]["run_id"]})
    return run["info"]["run_id"], f"/var/lib/mlflow/artifacts/{relative}/{name}.txt"


def test_deleted_runs_are_purged_after_the_retention_with_their_artifacts(host, site, auth):
    """mlflow_server_gc_retention_days: 30 (molecule.yml): a run deleted 31 days ago goes, with
    its artifact; one deleted now stays."""
    timer = host.run("systemctl show -p ActiveState,UnitFileState --value mlflow-gc.timer")
    assert timer.stdout.split() == ["active", "enabled"]
    experiment = _api(site, auth, "POST", "experiments/create", {"name": f"mp-gc-{time.time_ns()}"})
    old, old_file = _run_with_artifact(site, auth, experiment["experiment_id"], "old")
    new, new_file = _run_with_artifact(site, auth, experiment["experiment_id"], "new")
    aged = host.run(
        "sudo -n mariadb mlflow -e "
        f"\"UPDATE runs SET deleted_time = deleted_time - 31*86400000 WHERE run_uuid = '{old}'\""
    )
    assert aged.rc == 0, aged.stderr
    started = host.run("sudo -n systemctl start mlflow-gc.service")
    journal = host.check_output("journalctl -u mlflow-gc.service --no-pager -o cat")
    assert started.rc == 0, journal
    assert f"Run with ID {old} has been permanently deleted." in journal
    assert new not in journal
    status, body, _ = site.request(f"/api/2.0/mlflow/runs/get?run_id={old}", auth=auth)
    assert status == 404 and b"RESOURCE_DOES_NOT_EXIST" in body
    kept = _api(site, auth, "GET", f"runs/get?run_id={new}")["run"]
    assert kept["info"]["lifecycle_stage"] == "deleted"
    assert not host.file(old_file).exists
    assert host.file(new_file).exists
    # No database URI on the purge's command line (it ran as the service account).
    assert "mysql+pymysql" not in host.check_output(
        "systemctl show -p ExecStart --value mlflow-gc.service"
    )
