"""Role azure_vm's key vault for a team's secrets, against the fake ARM with the real SDK: RBAC
mode, soft delete and purge protection, Key Vault Secrets Officer for the listed principals,
made first on its own (part keyvault), kept on destroy unless the data goes too; then the
secret store uses it (data plane: tests/fake_keyvault.py, the real azure-keyvault-secrets)."""

import uuid

from ansible_collections.mlflow_provision.tracking.plugins.module_utils import azure_vm_plan
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_store import (
    open_store,
)
from fake_arm import SUBSCRIPTION, TENANT
from fake_keyvault import FakeKeyVault
from test_azure_vm import args

OPERATOR, PIPELINE = str(uuid.uuid4()), str(uuid.uuid4())


def _vault_args(rg, **overrides):
    given = {
        "keyvault_name": "mlflow-team-kv",
        "keyvault_secret_officers": [
            {"principal_id": OPERATOR, "principal_type": "User"},
            {"principal_id": PIPELINE, "principal_type": "ServicePrincipal"},
        ],
        **overrides,
    }
    return args(rg, **given)


def _vault(fake, rg):
    return fake.get(
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/mlflow-team-kv"
    )


def test_the_vault_comes_first_alone_then_with_the_rest(fake, stack, tmp_path):
    fake.principals.update({OPERATOR: "User", PIPELINE: "ServicePrincipal"})
    rg = "rg-kv"
    result, writes = stack(_vault_args(rg, part="keyvault"))
    assert result.get("failed") is not True, result.get("msg")
    kinds = [p.split("/providers/")[-1].split("/")[0:2] for _, p in writes]
    assert [w for w in writes if "virtualMachines" in w[1] or "virtualNetworks" in w[1]] == []
    assert ["Microsoft.KeyVault", "vaults"] in kinds
    assert result["keyvault_url"] == "https://mlflow-team-kv.vault.azure.net/"
    props = _vault(fake, rg)["properties"]
    assert props["tenantId"] == TENANT
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True and props["enableSoftDelete"] is True
    assert props["softDeleteRetentionInDays"] == 90
    officers = [
        r["properties"]
        for r in fake.resources.values()
        if r.get("type") == "Microsoft.Authorization/roleAssignments"
        and r["properties"]["scope"].endswith("/vaults/mlflow-team-kv")
        and f"/resourceGroups/{rg}/" in r["properties"]["scope"]
    ]
    assert sorted((o["principalId"], o["principalType"]) for o in officers) == sorted(
        [(OPERATOR, "User"), (PIPELINE, "ServicePrincipal")]
    )
    assert {o["roleDefinitionId"].rsplit("/", 1)[1] for o in officers} == {
        azure_vm_plan.SECRETS_OFFICER
    }
    # The whole stack next: the vault is there already, nothing of it is written again.
    result, writes = stack(_vault_args(rg))
    assert result.get("failed") is not True, result.get("msg")
    assert not [w for w in writes if "vaults" in w[1] or "roleAssignments" in w[1]]
    assert result["keyvault_url"] == "https://mlflow-team-kv.vault.azure.net/"
    assert stack(_vault_args(rg))[1] == []

    # The team's store in it (the data plane's fake answers for any *.vault.azure.net).
    data_plane = FakeKeyVault(tmp_path / "kv").start()
    try:
        with data_plane.in_this_process():
            store = open_store("azure_keyvault", keyvault_url=result["keyvault_url"])
            assert store.get_or_create("mlflow-1/mlflow.password", lambda: "from-the-vault-1")[1]
            assert store.get("mlflow-1/mlflow.password") == "from-the-vault-1"
    finally:
        data_plane.stop()

    # Destroy keeps it (its secrets are data), unless the data goes too.
    result, writes = stack(_vault_args(rg, state="absent"))
    assert result.get("failed") is not True, result.get("msg")
    assert _vault(fake, rg) is not None
    result, writes = stack(_vault_args(rg, state="absent", destroy_data=True))
    assert result.get("failed") is not True, result.get("msg")
    assert _vault(fake, rg) is None


def test_purge_protection_stays_and_bad_names_are_azures_words(fake, stack):
    fake.principals.update({OPERATOR: "User", PIPELINE: "ServicePrincipal"})
    result, _ = stack(_vault_args("rg-kv-bad", keyvault_name="mlflow--kv"))
    assert result.get("failed") is True
    assert "vault name 'mlflow--kv' is invalid" in result["msg"]
