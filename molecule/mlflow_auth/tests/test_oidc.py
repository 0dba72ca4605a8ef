"""Auth mode `oidc`: sign-in through an OpenID provider, groups from its token, access tokens.

The provider is panva's oidc-provider (tests/oidc/provider.mjs) on the controller, over HTTPS,
in place of Entra ID: alice (groups mlflow-users, team-a), bob (mlflow-users, team-b), carol
(mlflow-admins) and mallory (contractors: no MLflow group). Headless Chromium (Debian's, driven
by Playwright) signs in through nginx with the authorization-code flow; the session's access
tokens then serve the REST API and the MLflow client, as a CI job would use them.
"""

import base64
import datetime as dt
import json
import os
import secrets
import shlex
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mp_https import container_address
from mp_playbook import run_playbook

# mp-oidc is reached over SSH as azureuser: the tests act as root through sudo.
testinfra_hosts = ["ansible://mp-oidc?sudo=true"]

NAME = "oidc.mlflow.test"
BASE = f"https://{NAME}"
PYTHON = "/opt/mlflow/current/bin/python"
# Kept as the scenario's artifact (CI keeps .cache/molecule).
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."))
SCREENSHOT = PROJECT / ".cache/molecule/oidc-sign-in.png"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    address = container_address("mp-oidc")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {NAME} {address}"],
        )
        yield chromium
        chromium.close()


def sign_in(browser, who):
    """A browser context signed in as `who`: MLflow -> the app's sign-in page -> the provider's
    login form -> consent -> back to MLflow. nginx's certificate is the role's self-signed one."""
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.goto(BASE + "/")
    page.get_by_text("Sign in with the test provider").first.click()
    page.wait_for_url("**/interaction/**")
    page.fill("input[name=login]", who)
    page.fill("input[name=password]", "any password: the test provider's form takes it")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if "/interaction/" in page.url:  # consent, the first time
        page.click("button[type=submit]")
    page.wait_for_url(f"{BASE}/**")
    return context, page


# Playwright's own request API runs outside the browser (no --host-resolver-rules): requests
# with the session go through the page, as the app's UI sends them.
FETCH = """async ([method, path, body]) => {
  const answer = await fetch(path, {method, headers: {'Content-Type': 'application/json'},
                                    body: body === null ? undefined : JSON.stringify(body)});
  return {status: answer.status, text: await answer.text()};
}"""


def in_page(page, method, path, body=None):
    """(status, text) of a request the signed-in page makes with its session cookie."""
    answer = page.evaluate(FETCH, [method, path, body])
    return answer["status"], answer["text"]


def new_token(page):
    name = f"ci-{secrets.token_hex(4)}"  # a token's name is unique per person
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    status, text = in_page(
        page, "POST", "/api/2.0/mlflow/users/current/tokens", {"name": name, "expiration": expires}
    )
    assert status == 201, text
    return json.loads(text)


def call(address, credentials, method, path, payload=None):
    """(status, JSON or text) of one REST call through nginx with basic auth (user, token)."""
    request = urllib.request.Request(
        f"https://{address}{path}",
        method=method,
        data=json.dumps(payload).encode() if payload is not None else None,
        headers={
            "Host": NAME,
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(":".join(credentials).encode()).decode(),
        },
    )
    context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")[:300]


@pytest.fixture(scope="module")
def people(browser):
    """Each person signed in once: {who: (context, page, (username, token), token id)}."""
    signed = {}
    for who in ("alice", "bob", "carol"):
        context, page = sign_in(browser, who)
        token = new_token(page)
        signed[who] = (context, page, (f"{who}@mlflow.test", token["token"]), token["id"])
    yield signed
    for context, *_ in signed.values():
        context.close()


@pytest.fixture(scope="module")
def address():
    return container_address("mp-oidc")


def test_sign_in_through_the_provider_gives_a_secure_session_with_the_groups(people):
    context, page, *_ = people["alice"]
    session = next(c for c in context.cookies() if c["name"] == "session")
    assert session["secure"] and session["httpOnly"], session
    # The app's own page says who signed in, and with which groups from the token.
    page.goto(BASE + "/oidc/ui/user")
    page.get_by_text("alice@mlflow.test").first.wait_for(timeout=30000)
    assert page.get_by_text("team-a").count() > 0


def test_someone_in_no_mlflow_group_is_refused(browser):
    context, page = sign_in(browser, "mallory")
    try:
        assert "User+is+not+allowed+to+login" in page.url, page.url
        assert in_page(page, "GET", "/api/2.0/mlflow/experiments/search?max_results=5")[0] == 401
    finally:
        context.close()


def test_group_grants_decide_who_reads_and_writes(people, address):
    """The permission matrix: the admin makes one experiment per team; a team's grant on the
    prefix `team-x/` lets its members read and log there, and nobody else."""
    admin = people["carol"][2]
    run = f"shared-{secrets.token_hex(3)}"  # new names on every verify
    experiments = {}
    for team in ("team-a", "team-b"):
        status, body = call(
            address, admin, "POST", "/api/2.0/mlflow/experiments/create", {"name": f"{team}/{run}"}
        )
        assert status == 200, body
        experiments[team] = body["experiment_id"]
    matrix = {}
    for who in ("alice", "bob", "carol"):
        for team, experiment in experiments.items():
            read, _ = call(
                address,
                people[who][2],
                "GET",
                f"/api/2.0/mlflow/experiments/get?experiment_id={experiment}",
            )
            write, _ = call(
                address,
                people[who][2],
                "POST",
                "/api/2.0/mlflow/runs/create",
                {"experiment_id": experiment},
            )
            matrix[f"{who} {team}/"] = (read, write)
    print("permission matrix (read, log a run):", json.dumps(matrix))
    assert matrix == {
        "alice team-a/": (200, 200),
        "alice team-b/": (403, 403),
        "bob team-a/": (403, 403),
        "bob team-b/": (200, 200),
        "carol team-a/": (200, 200),
        "carol team-b/": (200, 200),
    }


def test_the_mlflow_client_logs_a_run_with_an_access_token(host, people):
    """The MLflow client on the host, as a CI job: the user name and a token read from a file."""
    user, token = people["alice"][2]
    host.run("install -m 0600 /dev/null /root/alice-token")
    host.run(f"printf %s {shlex.quote(token)} > /root/alice-token")
    script = (
        "import os, mlflow; "
        "os.environ['MLFLOW_TRACKING_PASSWORD'] = open('/root/alice-token').read(); "
        "mlflow.set_experiment('team-a/client'); "
        "run = mlflow.start_run(); mlflow.log_metric('m', 1.0); mlflow.end_run(); "
        "print(mlflow.get_run(run.info.run_id).data.metrics)"
    )
    env = {
        "MLFLOW_TRACKING_URI": BASE,
        "MLFLOW_TRACKING_USERNAME": user,
        "MLFLOW_TRACKING_SERVER_CERT_PATH": "/etc/ssl/certs/mlflow-provision.crt",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    out = host.run(f"cd /root && {assignments} {PYTHON} -c {shlex.quote(script)}")
    host.run("rm -f /root/alice-token")
    assert out.rc == 0, out.stderr[-3000:]
    assert "{'m': 1.0}" in out.stdout


def test_a_session_is_valid_on_every_instance(host, people):
    """Sessions live in the shared database, signed with one key: a browser's cookie works on
    both instances (no sticky sessions); without it each answers 401."""
    context = people["bob"][0]
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "session")
    for port in (5001, 5002):
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=5"
        with_cookie = host.check_output(
            f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {NAME}' "
            f"-H {shlex.quote('Cookie: session=' + cookie)} '{url}'"
        )
        without = host.check_output(
            f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {NAME}' '{url}'"
        )
        assert (port, with_cookie, without) == (port, "200", "401")


def test_a_revoked_token_is_refused_at_once(people, address):
    _context, page, credentials, token_id = people["alice"]
    assert (
        call(address, credentials, "GET", "/api/2.0/mlflow/experiments/search?max_results=5")[0]
        == 200
    )
    status, text = in_page(page, "DELETE", f"/api/2.0/mlflow/users/current/tokens/{token_id}")
    assert status == 200, text
    assert (
        call(address, credentials, "GET", "/api/2.0/mlflow/experiments/search?max_results=5")[0]
        == 401
    )
    # A made-up token never worked.
    made_up = (credentials[0], "not-a-token")
    assert (
        call(address, made_up, "GET", "/api/2.0/mlflow/experiments/search?max_results=5")[0] == 401
    )


def test_secrets_stay_in_the_root_only_environment_file(host):
    env = host.file("/etc/mlflow/mlflow.env")
    assert (env.user, env.mode) == ("root", 0o600)
    assert "OIDC_CLIENT_SECRET=" in env.content_string
    # Never on a command line, never in the unit; the basic-auth app's file is not there.
    assert "not a real one" not in host.check_output("ps -eo args")
    assert "not a real one" not in host.file("/etc/systemd/system/mlflow@.service").content_string
    assert not host.file("/etc/mlflow/basic_auth.ini").exists
    database = host.file("/var/lib/mlflow/oidc_auth.db")
    assert database.user == "mlflow" and database.mode & 0o007 == 0, oct(database.mode)


def test_a_401_does_not_open_the_browsers_password_box(address):
    status, _ = call(address, ("nobody", "nothing"), "GET", "/api/2.0/mlflow/experiments/search")
    assert status == 401
    request = urllib.request.Request(
        f"https://{address}/api/2.0/mlflow/experiments/search", headers={"Host": NAME}
    )
    context = ssl._create_unverified_context()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=context, timeout=30)
    assert refused.value.code == 401
    assert "WWW-Authenticate" not in refused.value.headers


def test_the_apps_database_is_at_its_head_and_in_the_backups(host):
    """The deploy migrated the app's schema once (not every worker at start), and the host
    helper that backups, upgrades and status use sees it beside MLflow's database."""
    out = host.run(
        "systemd-run --quiet --wait --pipe --collect"
        " --property=EnvironmentFile=/etc/mlflow/mlflow.env --uid=mlflow"
        f" {PYTHON} /opt/mlflow/bin/mlflow-host inspect"
    )
    assert out.rc == 0, out.stderr
    databases = json.loads(out.stdout)["databases"]
    assert set(databases) == {"database", "oidc"}, databases
    assert databases["oidc"]["at_head"] and databases["oidc"]["kind"] == "sqlite", databases


def test_the_experiments_page_lists_what_the_team_may_read(people):
    """After the tests above made experiments for both teams: alice's browser lists team-a's
    and none of team-b's (the screenshot is the scenario's artifact)."""
    _context, page, *_ = people["alice"]
    page.goto(BASE + "/#/experiments")
    page.get_by_text("team-a/client").first.wait_for(timeout=30000)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert page.get_by_text("team-a/shared-").count() >= 1
    assert page.get_by_text("team-b/").count() == 0


def test_a_provider_the_host_cannot_reach_is_named(host):
    """The deploy's check, with a discovery URL nothing answers: it names the variable, the URL
    and the host, before the configuration would name the provider."""
    before = host.file("/etc/mlflow/mlflow.env").sha256sum
    url = "https://127.0.0.1:1/.well-known/openid-configuration"
    rc, out = run_playbook(
        Path(__file__).parent.parent / "oidc_provider_check.yml",
        "-e",
        f"mlflow_server_oidc_discovery_url={url}",
        timeout=120,
    )
    flat = " ".join(out.split())
    assert rc != 0, flat[-2000:]
    assert f"mlflow_server_oidc_discovery_url: {url} does not give an OpenID configuration" in flat
    assert "from mp-oidc" in flat
    assert host.file("/etc/mlflow/mlflow.env").sha256sum == before
