"""inventories/azure-cluster, as shipped: site.yml's Azure play against the fake Resource Manager,
then the deploy's preflight on the VMs it made (one inventory, one command, up to the hosts)."""

import json
import os
import sys
import uuid

from conftest import ROOT
from fake_keyvault import FakeKeyVault
from playbook_run import ansible_playbook
from test_azure_vm import KEY


def _run(fake, tmp_path, *extra, no_admin=False, env_extra=None):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh/id_ed25519.pub").write_text(KEY + "\n")
    # The admin password as the inventory's lookup would make it, with a digit for certain (one
    # file in a thousand lacks one, and the preflight refuses it: tested in test_inputs_azure_vm).
    credentials = home / ".config/mlflow-provision/credentials"
    credentials.mkdir(parents=True, exist_ok=True)
    admin = credentials / "azure-cluster-pg-admin.password"
    if not admin.exists() and not no_admin:
        admin.write_text("Xk3" + "q" * 37)
        admin.chmod(0o600)
    variables = tmp_path / "vars.json"
    variables.write_text(
        json.dumps(
            {
                "azure_vm_resource_manager_endpoint": fake.url,
                "ansible_python_interpreter": sys.executable,
                "mp_out": str(tmp_path),
            }
        )
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_"))},
        **fake.environment(),
        "HOME": str(home),
        **(env_extra or {}),
    }
    return ansible_playbook(
        "tests/playbooks/azure_cluster_preflight.yml",
        "-e",
        f"@{variables}",
        *extra,
        inventory=ROOT / "inventories/azure-cluster",
        env=env,
        timeout=300,
    )


def test_the_cluster_inventory_provisions_and_passes_the_preflight(fake, tmp_path):
    # Check mode first, on nothing: it says what it would create, writes nothing, and hands no
    # VM that does not exist to the host roles (they could not reach it).
    before = len(fake.writes())
    rc, output = _run(fake, tmp_path, "--check")
    assert rc == 0, output
    assert fake.writes()[before:] == []
    assert "mlflow-1, mlflow-2 would be created" in output
    assert not list(tmp_path.glob("mlflow-*.json"))
    rc, output = _run(fake, tmp_path)
    assert rc == 0, output
    hosts = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in ("mlflow-1", "mlflow-2")}
    first = hosts["mlflow-1"]
    assert first["mlflow_server_backend"] == "postgresql" and not first["local_mysql"]
    assert first["mlflow_server_db_host"] == (
        "mlflow-cluster-example-1234-pg.postgres.database.azure.com"
    )
    # Standard_B2s: 429 less the 15 Azure keeps; the preflight counted the pools against it.
    assert first["mlflow_server_db_max_connections"] == 414
    assert first["mlflow_server_cluster_hosts"] == ["mlflow-1", "mlflow-2"]
    assert [int(h["ansible_port"]) for h in hosts.values()] == [50001, 50002]
    # The other VMs reach the ACME issuer (mlflow-1) at its private address.
    issuer = {h["nginx_tls_acme_issuer_address"] for h in hosts.values()}
    assert len(issuer) == 1 and issuer.pop().startswith("10.42.1.")
    # The secrets were made once, 0600, and never printed.
    secret = tmp_path / "home/.config/mlflow-provision/credentials/azure-cluster-mlflow-db.password"
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    assert secret.read_text().strip() not in output
    assert "Xk3" + "q" * 37 not in output
    # Again, in check mode: no write request reaches Azure.
    before = len(fake.writes())
    rc, output = _run(fake, tmp_path, "--check")
    assert rc == 0, output
    assert fake.writes()[before:] == []
    # A second operator (or a pipeline) without this machine's store: the database exists, so
    # its administrator's password is in use and is not made again: refused, before any write.
    admin = tmp_path / "home/.config/mlflow-provision/credentials/azure-cluster-pg-admin.password"
    admin.rename(admin.with_suffix(".kept"))
    rc, output = _run(fake, tmp_path, no_admin=True)
    assert rc != 0, output
    assert fake.writes()[before:] == []
    assert (
        "azure_vm_postgres_admin_password: secret azure-cluster-pg-admin.password is missing"
        in output
    ), output[-3000:]
    assert "localhost already uses one: nothing was changed" in output
    assert not admin.exists()


def test_the_team_store_in_a_key_vault_the_role_makes_first(fake, tmp_path):
    """Store azure_keyvault with the vault made by role azure_vm: on a new deployment the vault
    comes first, then the secrets go there (none on this machine), then the rest is made."""
    operator = str(uuid.uuid4())
    fake.principals[operator] = "User"
    data_plane = FakeKeyVault(tmp_path / "kv", tokens=fake.tokens).start()
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_text(fake.ca.read_text() + data_plane.ca.read_text())
    plane = data_plane.environment()
    env_extra = {  # one identity (the fake ARM's), two fakes behind one CA bundle
        **{k: plane[k] for k in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")},
        "REQUESTS_CA_BUNDLE": str(bundle),
        "SSL_CERT_FILE": str(bundle),
    }
    team = tmp_path / "team.json"
    team.write_text(
        json.dumps(
            {
                "azure_vm_resource_group": "mlflow-team-rg",
                "azure_vm_dns_label": "mlflow-team-5678",
                "azure_vm_postgres_server": "mlflow-team-5678-pg",
                "azure_vm_storage_account": "mlflowteam5678",
                "azure_vm_keyvault_name": "mlflow-team-5678",
                "azure_vm_keyvault_secret_officers": [
                    {"principal_id": operator, "principal_type": "User"}
                ],
                "mlflow_provision_secrets_store": "azure_keyvault",
                "mlflow_provision_secrets_keyvault_url": "https://mlflow-team-5678.vault.azure.net",
            }
        )
    )
    try:
        rc, output = _run(fake, tmp_path, "-e", f"@{team}", no_admin=True, env_extra=env_extra)
        assert rc == 0, output[-4000:]
        stored = data_plane.values("mlflow-team-5678.vault.azure.net")
    finally:
        data_plane.stop()
    # Named by the deployment's scope (its DNS label) and the secret; none on this machine.
    assert sorted(name.rsplit("-", 1)[0] for name in stored) == [
        "mlflow-team-5678-azure-cluster-mlflow-db-password",
        "mlflow-team-5678-azure-cluster-pg-admin-password",
    ]
    credentials = tmp_path / "home/.config/mlflow-provision/credentials"
    assert not list(credentials.glob("azure-cluster-*.password"))
    for value in stored.values():
        assert value not in output
    # The vault came before the database that uses its administrator's password.
    puts = [p.lower() for m, p in fake.writes() if m == "PUT" and "mlflow-team-rg" in p.lower()]
    vault = next(i for i, p in enumerate(puts) if p.endswith("/vaults/mlflow-team-5678"))
    server = next(
        i for i, p in enumerate(puts) if p.endswith("/flexibleservers/mlflow-team-5678-pg")
    )
    assert vault < server
