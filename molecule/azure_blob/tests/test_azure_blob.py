"""Artifact store azure_blob: MLflow stores artifacts as blobs in Azurite, served through nginx."""

import json
import shlex
import uuid

import pytest
from conftest import NAME, ROOT_ON_HOST

testinfra_hosts = ["ansible://mp-blob"]

PYTHON = "/opt/mlflow/current/bin/python"
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONNECTION = (
    f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
    f"BlobEndpoint=http://mp-azurite:10000/{ACCOUNT};"
)
CONTAINER = "mlflow-artifacts"
PREFIX = "team-a/runs"
URI = f"wasbs://{CONTAINER}@{ACCOUNT}.blob.core.windows.net/{PREFIX}"
BIG = 100 * 1024 * 1024

# Runs on the MLflow host with the server's venv: the real MLflow client, through nginx
# (https://blob.mlflow.test, basic auth, Pebble's root as the only trust anchor). Logs a small and a
# 100 MiB artifact, downloads both back through the server, then lists the container in
# Azurite with azure-storage-blob. Prints one JSON line.
CLIENT = r"""
import hashlib, json, os, sys, tempfile, time
from pathlib import Path

import mlflow
from azure.storage.blob import BlobServiceClient

def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

big_size, connection, container, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
os.environ["MLFLOW_TRACKING_PASSWORD"] = Path("/root/mp-blob-password").read_text().strip()
result = {}
with tempfile.TemporaryDirectory() as tmp:
    small, big = Path(tmp, "small.txt"), Path(tmp, "big.bin")
    small.write_text("artifact through the tracking server\n")
    with open(big, "wb") as f:
        for _ in range(big_size >> 20):
            f.write(os.urandom(1 << 20))
    mlflow.set_experiment("azure-blob-test")
    started = time.perf_counter()
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(small), artifact_path="notes")
        mlflow.log_artifact(str(big), artifact_path="data")
    result["upload_s"] = round(time.perf_counter() - started, 1)
    result["artifact_uri"] = run.info.artifact_uri
    started = time.perf_counter()
    back = Path(tmp, "back")
    mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(back))
    result["download_s"] = round(time.perf_counter() - started, 1)
    result["roundtrip"] = {
        name: sha(Path(tmp, name)) == sha(Path(back, sub, name))
        for sub, name in (("notes", "small.txt"), ("data", "big.bin"))
    }
    blobs = BlobServiceClient.from_connection_string(connection).get_container_client(container)
    listed = {b.name: b.size for b in blobs.list_blobs(name_starts_with=prefix + "/")}
    run_prefix = f"{prefix}/{run.info.experiment_id}/{run.info.run_id}/artifacts/"
    result["blobs"] = {
        k[len(run_prefix):]: v for k, v in listed.items() if k.startswith(run_prefix)
    }
    digest = hashlib.sha256()
    for chunk in blobs.download_blob(run_prefix + "data/big.bin").chunks():
        digest.update(chunk)
    result["blob_matches"] = digest.hexdigest() == sha(big)
print(json.dumps(result))
"""


def _artifact_check(host, env_lines, *args):
    """Run the role's artifact store check with another environment, as the play runs it."""
    env = "\n".join(env_lines)
    host.run_expect([0], f"umask 077; printf '%s\\n' {shlex.quote(env)} > /tmp/mp-check.env")
    out = host.run(
        "systemd-run --quiet --wait --pipe --collect --uid=mlflow --gid=mlflow"
        " --property=EnvironmentFile=/tmp/mp-check.env"
        f" {PYTHON} /opt/mlflow/bin/mlflow-host artifact-check "
        + " ".join(shlex.quote(a) for a in args)
    )
    host.run("rm -f /tmp/mp-check.env")
    return out


@pytest.fixture(scope="module")
def roundtrip(host, pebble_root):
    host.run_expect([0], f"cat > /root/mp-blob-client.py <<'MP_EOF'\n{CLIENT}\nMP_EOF")
    host.run_expect([0], "umask 077; printf '%s\\n' 'blob tester p@ss' > /root/mp-blob-password")
    out = host.run(
        f"cd /root && MLFLOW_TRACKING_URI=https://{NAME} MLFLOW_TRACKING_USERNAME=tester"
        f" MLFLOW_TRACKING_SERVER_CERT_PATH={ROOT_ON_HOST}"
        " MLFLOW_DISABLE_TELEMETRY=true"
        f" {PYTHON} /root/mp-blob-client.py {BIG} {shlex.quote(CONNECTION)} {CONTAINER} {PREFIX}"
    )
    assert out.rc == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_server_stores_artifacts_in_the_container(host):
    unit = host.file("/etc/systemd/system/mlflow@.service").content_string
    assert f"--artifacts-destination {URI} " in unit
    assert "--serve-artifacts" in unit
    # No local artifact directory for this store, and none writable for the service.
    assert not host.file("/var/lib/mlflow/artifacts").exists
    assert "ReadWritePaths=/var/lib/mlflow\n" in unit


def test_connection_string_only_in_the_environment_file(host):
    env = host.file("/etc/mlflow/mlflow.env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert f'AZURE_STORAGE_CONNECTION_STRING="{CONNECTION}"' in env.content_string
    # Nothing the server runs carries the key on its command line.
    cmdlines = host.check_output("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
    assert "mlflow" in cmdlines
    assert KEY not in cmdlines


def test_client_needs_no_storage_credentials(roundtrip):
    # The client sees the server's proxy scheme, never the storage account.
    assert roundtrip["artifact_uri"].startswith("mlflow-artifacts:")


def test_artifacts_land_as_blobs_under_the_prefix(roundtrip):
    assert roundtrip["blobs"] == {"notes/small.txt": 37, "data/big.bin": BIG}
    assert roundtrip["blob_matches"] is True


def test_artifacts_download_byte_identical_through_nginx(roundtrip):
    # 100 MiB up and down through nginx, the server and the blob store.
    assert roundtrip["roundtrip"] == {"small.txt": True, "big.bin": True}, roundtrip


def test_check_reports_the_store_reachable(host):
    out = _artifact_check(host, [f'AZURE_STORAGE_CONNECTION_STRING="{CONNECTION}"'], URI)
    assert out.rc == 0, out.stdout + out.stderr
    assert out.stdout.strip() == (
        f"Azure Blob container '{CONTAINER}' of account '{ACCOUNT}': reachable"
    )


@pytest.mark.parametrize(
    ("connection", "uri", "problem"),
    [
        (CONNECTION.replace(KEY, "d3Jvbmcga2V5"), URI, "authentication failed"),
        (CONNECTION.replace("mp-azurite", "mp-no-such-host"), URI, "endpoint unreachable"),
        (CONNECTION.replace(":10000", ":10009"), URI, "endpoint unreachable"),
    ],
    ids=["wrong-key", "unknown-host", "closed-port"],
)
def test_check_names_the_problem(host, connection, uri, problem):
    out = _artifact_check(host, [f'AZURE_STORAGE_CONNECTION_STRING="{connection}"'], uri)
    assert out.rc == 1, out.stdout + out.stderr
    assert f": {problem}" in out.stdout, out.stdout
    assert "d3Jvbmcga2V5" not in out.stdout and KEY not in out.stdout


def test_check_reports_a_missing_container_and_creates_it_when_asked(host):
    env = [f'AZURE_STORAGE_CONNECTION_STRING="{CONNECTION}"']
    # A new name on every run: Azurite keeps its data between verify runs.
    uri = f"wasbs://mp-check-{uuid.uuid4().hex[:12]}@{ACCOUNT}.blob.core.windows.net/x"
    out = _artifact_check(host, env, uri)
    assert (out.rc, out.stdout.strip().rsplit(": ", 1)[-1]) == (0, "missing"), out.stdout
    out = _artifact_check(host, env, uri, "--create-container")
    assert (out.rc, out.stdout.strip().rsplit(": ", 1)[-1]) == (0, "created"), out.stdout
    out = _artifact_check(host, env, uri)
    assert (out.rc, out.stdout.strip().rsplit(": ", 1)[-1]) == (0, "reachable"), out.stdout


def test_without_credentials_the_managed_identity_is_tried(host):
    # No secret in the environment: DefaultAzureCredential. Its managed-identity endpoint is
    # pointed at a closed loopback port, so the test reaches no address outside the host.
    out = _artifact_check(
        host, ["IDENTITY_ENDPOINT=http://127.0.0.1:9/token", "IDENTITY_HEADER=test"], URI
    )
    assert out.rc == 1
    assert ": no credential" in out.stdout, out.stdout
