"""Role nginx_tls's self-signed certificate on the controller: the logic
(plugins/module_utils/self_signed.py) and the action nginx_tls_self_signed run by a playbook."""

import datetime as dt
import json
import re
import sys

import yaml
from ansible_collections.mlflow_provision.tracking.plugins.module_utils import self_signed
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NAMES, IPS = ["mlflow.example.org", "web1"], ["10.0.0.4"]
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _cert(pem):
    return x509.load_pem_x509_certificate(pem.encode())


def test_a_new_pair_names_the_host_for_a_server_and_a_year():
    made = self_signed.plan(None, None, NAMES, IPS, 365, NOW)
    assert made["new_key"] and made["signed"] and made["reasons"] == ["there is none"]
    assert made["key"].startswith("-----BEGIN EC PRIVATE KEY-----")
    cert = _cert(made["certificate"])
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "mlflow.example.org"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == NAMES
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == IPS
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.not_valid_after_utc - NOW == dt.timedelta(days=365)
    # Nothing to do the next time.
    again = self_signed.plan(made["key"], made["certificate"], NAMES, IPS, 365, NOW)
    assert again == {**made, "new_key": False, "signed": False, "reasons": []}


def test_signed_again_with_the_same_key_when_names_change_or_the_end_is_near():
    made = self_signed.plan(None, None, NAMES, IPS, 365, NOW)
    key = made["key"]
    for names, ips, now, reason in [
        (["other.example.org", "web1"], IPS, NOW, "its common name differs"),
        ([*NAMES, "web1.internal"], IPS, NOW, "its names differ"),
        (NAMES, [], NOW, "its names differ"),
        (NAMES, IPS, NOW + dt.timedelta(days=340), "it ends within 30 days"),
    ]:
        renewed = self_signed.plan(key, made["certificate"], names, ips, 365, now)
        assert reason in renewed["reasons"] and renewed["signed"], renewed["reasons"]
        assert renewed["key"] == key and not renewed["new_key"]
        assert self_signed.certificate_problems(renewed["certificate"], key, names, ips, now) == []
    other_key = self_signed.new_key_pem()
    assert self_signed.certificate_problems(made["certificate"], other_key, NAMES, IPS, NOW) == [
        "it is not for the kept key"
    ]
    assert self_signed.certificate_problems("garbage", key, NAMES, IPS, NOW) == [
        "it cannot be read"
    ]


def _run(run_playbook, tmp_path, inventory=None, env=None, **extra):
    out = tmp_path / "out.json"
    run = run_playbook(
        "tests/playbooks/nginx_tls_self_signed.yml",
        {
            "dir": str(tmp_path / "credentials"),
            "names": NAMES,
            "ips": IPS,
            "out": str(out),
            **extra,
        },
        check=False,
        inventory=inventory,
        env=env,
    )
    assert run.rc == 0, run
    if inventory:
        return run.output
    changed = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", run.output).group(1)
    return json.loads(out.read_text()), changed, run.output


def test_the_action_keeps_the_pair_0600_and_changes_nothing_the_second_time(run_playbook, tmp_path):
    result, changed, output = _run(run_playbook, tmp_path)
    kept = tmp_path / "credentials"
    assert result["changed"] and result["new_key"] and changed == "2"
    assert kept.stat().st_mode & 0o777 == 0o700
    assert (kept / "server.key").stat().st_mode & 0o777 == 0o600
    assert (kept / "server.crt").stat().st_mode & 0o777 == 0o644
    assert (kept / "server.crt").read_text() == result["certificate"]
    assert "PRIVATE KEY" not in output
    key = (kept / "server.key").read_text()
    result, changed, _ = _run(run_playbook, tmp_path)
    assert not result["changed"] and changed == "1"  # the test's own copy of the result
    assert (kept / "server.key").read_text() == key


def test_the_action_adopts_the_pair_a_host_already_serves(run_playbook, tmp_path):
    served = self_signed.plan(None, None, NAMES, IPS, 365)
    (tmp_path / "host.key").write_text(served["key"])
    (tmp_path / "host.crt").write_text(served["certificate"])
    result, _, _ = _run(
        run_playbook,
        tmp_path,
        adopt_key=str(tmp_path / "host.key"),
        adopt_certificate=str(tmp_path / "host.crt"),
    )
    assert result["adopted"] and not result["new_key"] and not result["signed"]
    assert (tmp_path / "credentials/server.crt").read_text() == served["certificate"]
    assert (tmp_path / "credentials/server.key").read_text() == served["key"]


def test_hosts_that_share_the_directory_get_one_pair(run_playbook, tmp_path):
    # A cluster's hosts run the action at once, in one process each, on one directory; each
    # first looks for a pair on its host (fresh hosts have none), as the role has it do.
    hosts = [f"web{n}" for n in range(1, 7)]
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "\n".join(f"{h} ansible_python_interpreter={sys.executable}" for h in hosts) + "\n"
    )
    _run(
        run_playbook,
        tmp_path,
        inventory=str(inventory),
        adopt_key=str(tmp_path / "absent.key"),
        adopt_certificate=str(tmp_path / "absent.crt"),
    )
    results = [json.loads((tmp_path / f"out.json.{h}").read_text()) for h in hosts]
    assert len({r["certificate"] for r in results}) == 1
    assert sum(r["new_key"] for r in results) == 1
    kept = tmp_path / "credentials/server.crt"
    assert kept.read_text() == results[0]["certificate"]
    staged = [p for p in (tmp_path / "credentials").iterdir() if p.name.startswith(".nginx")]
    assert staged == []


def test_with_a_team_store_the_pair_moves_there_and_serves_everyone(run_playbook, tmp_path):
    """Store vault: this machine's pair (the one served) is taken into the store, and an
    operator without it gets the same pair from the store, with nothing to change."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    (tmp_path / "vault-password").write_text("pair-vault-password\n")
    team = {
        "mlflow_provision_secrets_store": "vault",
        "mlflow_provision_secrets_vault_file": str(tmp_path / "team.yml"),
        "mlflow_provision_secrets_scope": "web1",
    }
    env = {"ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "vault-password")}
    mine, _, _ = _run(run_playbook, tmp_path)  # store local first: this machine's pair
    taken, _, _ = _run(run_playbook, tmp_path, env=env, **team)
    assert taken["adopted"] and not taken["new_key"] and not taken["signed"]
    assert taken["certificate"] == mine["certificate"]
    vault = VaultLib([("default", VaultSecret(b"pair-vault-password"))])
    stored = yaml.safe_load(vault.decrypt((tmp_path / "team.yml").read_bytes()))
    assert stored["mlflow_provision_secrets"]["web1/server.crt"] + "\n" == mine["certificate"]
    # Another operator: no directory of its own, the team's store.
    for path in (tmp_path / "credentials").iterdir():
        path.unlink()
    again, _, output = _run(run_playbook, tmp_path, env=env, **team)
    assert not again["changed"] and again["certificate"] == mine["certificate"]
    assert "PRIVATE KEY" not in output
