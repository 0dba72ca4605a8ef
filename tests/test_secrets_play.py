"""playbooks/secrets.yml on two local "hosts" serving one MLflow (a cluster: one scope), with
the ansible-vault store: made once for both, reused by a second operator, refused when a host
already uses a secret the store lacks, rotated once on purpose, listed without values."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from playbook_run import ansible_playbook

PASSWORD = "team-vault-password-0123"


@pytest.fixture
def team(tmp_path):
    """An inventory of web1 and web2 (local connections, each with its own config dir), the
    team's vault file beside it, and the vault password in a file, as CI would have it."""
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    hosts = {}
    for name in ("web1", "web2"):
        (tmp_path / name).mkdir()
        hosts[name] = {"mlflow_server_config_dir": str(tmp_path / name)}
    (inventory / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"mlflow_servers": {"hosts": hosts}}}})
    )
    (inventory / "group_vars" / "all.yml").write_text(
        yaml.safe_dump(
            {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "mlflow_provision_secrets_store": "vault",
                "mlflow_provision_secrets_vault_file": str(tmp_path / "team.secrets.yml"),
                "nginx_tls_credentials_dir": str(tmp_path / "local-credentials"),
                "mysql_mlflow_password": "{{ lookup('mlflow_provision.tracking.secret',"
                " 'mysql-mlflow.password', chars=['ascii_letters', 'digits', 'punctuation']) }}",
            }
        )
    )
    password_file = tmp_path / "vault-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    return tmp_path


def _run(team, *args, vault=True):
    # This machine's own store (~/.config/...) is the test's.
    env = {"XDG_CONFIG_HOME": str(team / "config")}
    if vault:
        env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(team / "vault-password")
    return ansible_playbook(
        "playbooks/secrets.yml", *args, inventory=team / "inventory", env=env, timeout=300
    )


def _stored(team):
    raw = (team / "team.secrets.yml").read_bytes()
    plain = VaultLib([("default", VaultSecret(PASSWORD.encode()))]).decrypt(raw)
    return yaml.safe_load(plain)["mlflow_provision_secrets"]


def _deployed(team):
    for name in ("web1", "web2"):
        (team / name / "mlflow.env").write_text("MLFLOW_BACKEND_STORE_URI=...\n")


def test_made_once_for_the_cluster_then_reused_and_never_printed(team):
    rc, out = _run(team)
    assert rc == 0, out
    stored = _stored(team)
    # One scope for both hosts (the first's name): the same secrets on web1 and web2.
    assert sorted(stored) == ["web1/mlflow.password", "web1/mysql-mlflow.password"]
    # A new secret is no change to a host (the deploy that uses it is).
    assert "changed=1" not in out
    assert not (team / "local-credentials").exists()  # the team store, not this machine's
    _deployed(team)
    rc, out = _run(team)
    assert rc == 0, out
    assert _stored(team) == stored
    assert "changed=0" in out and "changed=1" not in out
    for value in stored.values():
        assert value not in out


def test_a_host_in_use_without_the_store_is_refused_naming_every_secret(team):
    assert _run(team)[0] == 0
    _deployed(team)
    (team / "team.secrets.yml").rename(team / "elsewhere.yml")
    rc, out = _run(team)
    assert rc != 0
    assert "Secrets: nothing was changed on any host" in out
    assert "mysql_mlflow_password: secret mysql-mlflow.password is missing from the store" in out
    assert "web1 already uses one" in out and "web2 already uses one" in out
    assert '"mlflow_provision_rotate": ["mysql-mlflow.password"]' in out
    # Nothing was made: the refused run wrote no store.
    assert not (team / "team.secrets.yml").exists()
    # The vault password missing: the store says what it needs.
    (team / "elsewhere.yml").rename(team / "team.secrets.yml")
    rc, out = _run(team, vault=False)
    assert rc != 0 and "needs the vault password" in out


def test_rotation_on_purpose_happens_once_for_both_hosts(team):
    assert _run(team)[0] == 0
    _deployed(team)
    before = _stored(team)
    rc, out = _run(team, "-e", '{"mlflow_provision_rotate": ["mysql-mlflow.password"]}')
    assert rc == 0, out
    after = _stored(team)
    assert after["web1/mysql-mlflow.password"] != before["web1/mysql-mlflow.password"]
    assert after["web1/mlflow.password"] == before["web1/mlflow.password"]
    rc, out = _run(team, "-e", '{"mlflow_provision_rotate": ["mysql.password"]}')
    assert rc != 0
    assert "mlflow_provision_rotate: mysql.password is not a generated secret of web1" in out
    assert "mysql-mlflow.password" in out


def test_check_mode_and_the_listing_store_nothing_and_show_no_value(team):
    rc, out = _run(team, "--check")
    assert rc == 0, out
    assert not (team / "team.secrets.yml").exists()
    assert _run(team)[0] == 0
    listing = team / "listing.json"
    rc, out = _run(
        team,
        "-e",
        "mlflow_provision_secrets_list=true",
        "-e",
        f"mlflow_provision_secrets_json={listing}",
    )
    assert rc == 0, out
    data = json.loads(listing.read_text())
    assert sorted(data) == ["web1", "web2"]
    by_name = {item["name"]: item for item in data["web2"]}
    assert by_name["mysql-mlflow.password"]["where"].endswith(
        "team.secrets.yml, key web1/mysql-mlflow.password"
    )
    assert by_name["mlflow.password"]["state"] == "present"
    for value in _stored(team).values():
        assert value not in out and value not in listing.read_text()


def test_moving_to_the_team_store_takes_this_machines_values(team):
    rc, out = _run(team, "-e", "mlflow_provision_secrets_store=local")
    assert rc == 0, out
    local = team / "local-credentials"
    # Store local honours the role's directory for its password, the default place for the rest.
    mine = (local / "mlflow.password").read_text().strip()
    _deployed(team)
    rc, out = _run(team)
    assert rc == 0, out
    assert _stored(team)["web1/mlflow.password"] == mine
    default_place = team / "config" / "mlflow-provision" / "credentials" / "web1"
    assert _stored(team)["web1/mysql-mlflow.password"] == (
        (default_place / "mysql-mlflow.password").read_text().strip()
    )
    # From now on the team store alone: this machine's files are not needed.
    (local / "mlflow.password").unlink()
    rc, out = _run(team)
    assert rc == 0 and "changed=0" in out, out


def test_the_cli_lists_where_each_secret_lives_and_deploys_with_the_vault_password(team):
    cli = [str(Path(sys.executable).parent / "mlflow-provision")]
    base = {**os.environ, "XDG_CONFIG_HOME": str(team / "config")}
    base.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    password = ["--vault-password-file", str(team / "vault-password")]
    inventory = ["-i", str(team / "inventory")]
    made = subprocess.run(
        [*cli, "check", *inventory, *password], env=base, capture_output=True, text=True
    )
    # This inventory is not deployable (SQLite on two hosts...): the check says so, and the
    # secrets it lacks are no problem there (stand-ins), nor made.
    assert made.returncode == 3, made.stdout + made.stderr
    assert "mlflow_server_backend: sqlite cannot serve 2 hosts" in made.stdout
    assert "secret" not in made.stdout.lower()
    assert not (team / "team.secrets.yml").exists()
    assert _run(team)[0] == 0
    proc = subprocess.run(
        [*cli, "secrets", *inventory, *password], env=base, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\n  mlflow.password        stored   ansible-vault file" in proc.stdout
    assert "key web1/mysql-mlflow.password" in proc.stdout
    for value in _stored(team).values():
        assert value not in proc.stdout + proc.stderr
    data = json.loads(
        subprocess.run(
            [*cli, "secrets", "--json", *inventory, *password],
            env=base,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert {item["name"] for item in data["data"]["web2"]} == {
        "mlflow.password",
        "mysql-mlflow.password",
    }
    # Without the vault password: the store says what it needs, and the exit code is bad input.
    proc = subprocess.run([*cli, "secrets", *inventory], env=base, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stdout
    assert "needs the vault password" in proc.stdout
