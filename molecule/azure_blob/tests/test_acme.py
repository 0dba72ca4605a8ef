"""Mode acme of role nginx_tls against Pebble: issuance over HTTP-01, the renewal timer's own
service renewing under load, failures that keep the served certificate, bad input."""

import json
import os
import re
import shlex
import ssl
import time
from pathlib import Path

import pytest
from conftest import AUTH, NAME, ROOT_ON_HOST
from cryptography import x509
from mp_https import Endpoint
from mp_load import Load
from mp_playbook import run_playbook

testinfra_hosts = ["ansible://mp-blob"]

SCENARIO = Path(__file__).resolve().parent.parent
CERT = "/etc/ssl/certs/mlflow-provision.crt"
KEY = "/etc/ssl/private/mlflow-provision.key"
BASE = "/var/lib/dehydrated"
UNIT = "mlflow-acme-renew"
EAB_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"


def _serial(host, path=CERT):
    return int(host.check_output(f"openssl x509 -noout -serial -in {path}").split("=")[1], 16)


def _served_serial(site):
    return x509.load_pem_x509_certificate(site.peer_certificate_pem().encode()).serial_number


def _role(*extra):
    """Role nginx_tls alone with the scenario's variables, some overridden: (rc, output)."""
    return run_playbook(
        SCENARIO / "nginx_tls.yml", *[a for v in extra for a in ("-e", json.dumps(v))]
    )


def _state(host):
    """What a run may change: the files of mode acme, nginx.conf, the served certificate."""
    files = (
        f"/etc/dehydrated/conf.d/* /etc/dehydrated/domains.txt /etc/nginx/nginx.conf {CERT} {KEY}"
    )
    return host.check_output(f"sha256sum {files}")


def test_served_certificate_chains_to_pebbles_root_for_the_name(site):
    with site.connect() as tls:
        cert = tls.getpeercert()
    assert ("DNS", NAME) in cert["subjectAltName"]
    issuer = dict(part[0] for part in cert["issuer"])
    assert issuer["commonName"].startswith("Pebble Intermediate CA"), issuer
    # Full verification includes the name: another name is refused.
    other = Endpoint(site.address, "other.mlflow.test", site.cafile)
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        other.connect().close()


def test_port_80_serves_challenges_and_redirects_everything_else(host, site):
    host.run_expect([0], f"echo mp-token-body > {BASE}/acme-challenges/mp-token")
    try:
        status = site.plain_http("/.well-known/acme-challenge/mp-token")
        assert status[0] == "HTTP/1.1 200 OK", status
        assert site.plain_http("/.well-known/acme-challenge/missing")[0] == "HTTP/1.1 404 Not Found"
        redirect = site.plain_http("/api/2.0/mlflow/experiments/search")
        assert redirect[0] == "HTTP/1.1 301 Moved Permanently"
        assert f"Location: https://{NAME}/api/2.0/mlflow/experiments/search" in redirect
    finally:
        host.run(f"rm -f {BASE}/acme-challenges/mp-token")


def test_keys_are_root_only_and_the_eab_key_is_nowhere_else(host):
    keys = host.check_output(
        f"ls {KEY} {BASE}/accounts/*/account_key.pem {BASE}/certs/{NAME}/privkey-*.pem"
        " /etc/dehydrated/conf.d/mlflow-provision-eab.sh"
    ).split()
    assert len(keys) >= 4, keys
    for path in keys:
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "root", 0o600), path
    found = host.run(f"grep -rl {EAB_KEY} /etc /var/lib/dehydrated /var/log /root /tmp")
    assert found.stdout.split() == ["/etc/dehydrated/conf.d/mlflow-provision-eab.sh"]
    assert EAB_KEY not in host.check_output("journalctl --no-pager -q")


def test_renewal_timer_is_scheduled(host):
    timer = host.service(f"{UNIT}.timer")
    assert timer.is_enabled and timer.is_running
    show = host.check_output(
        f"systemctl show {UNIT}.timer -p NextElapseUSecRealtime -p TimersCalendar"
    )
    assert "OnCalendar=*-*-* 00,12:00:00" in show
    # A next run is set (systemctl prints the property empty when none is).
    assert re.search(r"^NextElapseUSecRealtime=\S", show, re.M), show
    service = host.file(f"/etc/systemd/system/{UNIT}.service").content_string
    assert "ExecStart=/usr/bin/dehydrated --cron" in service


def test_forced_renewal_through_the_timers_service_serves_a_new_certificate_under_load(host, site):
    before = _serial(host)
    assert _served_serial(site) == before
    # dehydrated's per-certificate config (docs/per-certificate-config.md): due now.
    host.run_expect([0], f"echo RENEW_DAYS=36500 > {BASE}/certs/{NAME}/config")
    try:
        since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
        with Load(site, AUTH, threads=4, keepalive=2, max_seconds=120) as load:
            time.sleep(2)
            renewal = host.run(f"systemctl start {UNIT}.service")
            time.sleep(2)
    finally:
        host.run(f"rm -f {BASE}/certs/{NAME}/config")
    journal = host.check_output(
        f"journalctl -u {UNIT}.service --since {shlex.quote(since)} -o cat --no-pager"
    )
    assert renewal.rc == 0, journal
    print(journal)  # the closing note quotes these lines
    assert "(Less than 36500 days). Renewing!" in journal
    assert "Installed the certificate for blob.mlflow.test" in journal
    after = _serial(host)
    assert after != before
    assert _served_serial(site) == after
    summary = load.summary()
    assert summary["failed"] == 0 and summary["requests"] > 20, summary
    # The journal entry of the service says it succeeded; the timer's next run is still set.
    assert host.check_output(f"systemctl show {UNIT}.service -p Result") == "Result=success"


def test_status_shows_the_issuer_and_days_left(host):
    out = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "status.json"
    rc, output = run_playbook("status.yml", "-e", f"mlflow_provision_status_json={out}")
    assert rc == 0, output[-3000:]
    nginx = json.loads(out.read_text())["mp-blob"]["nginx"]
    assert "Pebble Intermediate CA" in nginx["certificate"]["issuer"]
    assert 85 <= nginx["certificate"]["days_left"] <= 90, nginx
    assert nginx["renewal"]["timer"] == "active" and nginx["renewal"]["next"], nginx
    assert "renewal      timer active" in output


@pytest.mark.parametrize(
    ("variables", "cause"),
    [
        (
            {"nginx_tls_server_names": ["nowhere.mlflow.test"]},
            "the CA could not resolve nowhere.mlflow.test",
        ),
        (
            {"nginx_tls_server_names": ["closed.mlflow.test"]},
            "the CA could not connect to closed.mlflow.test on port 80",
        ),
        (
            {"nginx_tls_acme_directory_url": "https://mp-pebble:14999/dir"},
            "the ACME server could not be reached at https://mp-pebble:14999/dir",
        ),
    ],
    ids=["name-does-not-resolve", "port-80-closed", "ca-down"],
)
def test_a_failed_issuance_names_the_cause_and_keeps_serving(host, site, variables, cause):
    served = _served_serial(site)
    rc, output = _role(variables)
    assert rc == 2, output[-3000:]
    assert cause in output, output[-3000:]
    assert "nginx keeps serving its current certificate (Pebble Intermediate CA" in output
    assert _served_serial(site) == served == _serial(host)
    assert site.request("/health")[0] == 200


def test_the_right_names_again_issue_nothing(host, site):
    """After the failures above: the scenario's own variables bring everything back without a
    new certificate (it is still valid for the same name)."""
    served = _served_serial(site)
    rc, output = _role()
    assert rc == 0, output[-3000:]
    assert _served_serial(site) == served
    assert host.file("/etc/dehydrated/domains.txt").content_string == f"{NAME}\n"


@pytest.mark.parametrize(
    ("variables", "messages"),
    [
        (
            {
                "nginx_tls_acme_email": "",
                "nginx_tls_server_names": ["10.20.30.40"],
                "nginx_tls_acme_directory_url": "http://mp-pebble:14000/dir",
            },
            [
                "nginx_tls_acme_email: required with nginx_tls_certificate_mode acme",
                "nginx_tls_server_names[0]: 10.20.30.40 is an IP address",
                'nginx_tls_acme_directory_url: "http://mp-pebble:14000/dir" is not an https:// URL',
            ],
        ),
        ({"nginx_tls_server_names": []}, ["nginx_tls_server_names: must list the DNS names"]),
    ],
    ids=["email-ip-http", "no-names"],
)
def test_bad_input_fails_before_any_change(host, variables, messages):
    before = _state(host)
    rc, output = _role(variables)
    assert rc == 2, output[-3000:]
    for message in messages:
        assert message in output, output[-3000:]
    assert "changed=0" in output
    assert _state(host) == before


def _client(host, password, trust):
    script = (
        "import mlflow; mlflow.set_experiment('acme'); "
        "run = mlflow.start_run(); mlflow.log_metric('m', 1.0); mlflow.end_run(); "
        "print(mlflow.get_run(run.info.run_id).data.metrics)"
    )
    env = {
        "MLFLOW_TRACKING_URI": f"https://{NAME}",
        "MLFLOW_TRACKING_USERNAME": AUTH[0],
        "MLFLOW_TRACKING_PASSWORD": password,
        "MLFLOW_TRACKING_SERVER_CERT_PATH": trust,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return host.run(
        f"cd /root && {assignments} /opt/mlflow/current/bin/python -c {shlex.quote(script)}"
    )


def test_mlflow_client_logs_a_run_with_full_verification(host, pebble_root):
    """The MLflow client on the host, with only Pebble's root as its trust store."""
    out = _client(host, AUTH[1], ROOT_ON_HOST)
    assert out.rc == 0, out.stderr[-3000:]
    assert "{'m': 1.0}" in out.stdout
    # The same client refuses the server when told to trust another root only.
    refused = _client(host, "x", "/etc/ssl/certs/ISRG_Root_X1.pem")
    assert refused.rc != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr


def test_leaving_mode_acme_removes_the_timer_and_coming_back_needs_no_new_certificate(host, site):
    served = _served_serial(site)
    dehydrated = _serial(host, f"{BASE}/certs/{NAME}/cert.pem")
    assert served == dehydrated
    rc, output = _role({"nginx_tls_certificate_mode": "self_signed"})
    assert rc == 0, output[-3000:]
    assert not host.file(f"/etc/systemd/system/{UNIT}.timer").exists
    assert not host.service(f"{UNIT}.timer").is_running
    pem = ssl.get_server_certificate((site.address, 443))  # self-signed: not verified
    assert x509.load_pem_x509_certificate(pem.encode()).serial_number != served
    # Back to acme: dehydrated's certificate is still valid, so the hook puts it back in place.
    rc, output = _role()
    assert rc == 0, output[-3000:]
    assert (
        "Installed the certificate for blob.mlflow.test" in output or _served_serial(site) == served
    )
    assert _served_serial(site) == served
    assert host.service(f"{UNIT}.timer").is_enabled
