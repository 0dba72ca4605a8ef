"""The secret stores (local files, ansible-vault file, Azure Key Vault through the real client
against tests/fake_keyvault.py) and the rule of when a secret may be made."""

import multiprocessing
import stat
import threading
import time

import pytest
from ansible.parsing.vault import VaultSecret
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_policy import (
    Request,
    SecretRefused,
    resolve,
)
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_store import (
    KEYVAULT_TAG,
    KeyVaultStore,
    LocalStore,
    StoreError,
    VaultStore,
    generate,
    keyvault_name,
    open_store,
)
from fake_keyvault import FakeKeyVault

VAULT_URL = "https://mlflow-team.vault.azure.net"


def _vault(path, password=b"team-vault-password"):
    return VaultStore(path, [("default", VaultSecret(password))])


def _race(args):
    root, key = args
    return LocalStore(root).get_or_create(key, lambda: generate(32))[0]


def test_local_store_files_are_private_and_the_first_writer_wins(tmp_path):
    root = tmp_path / "credentials"
    with multiprocessing.Pool(8) as pool:
        values = pool.map(_race, [(root, "web1/mlflow.password")] * 16)
    assert len(set(values)) == 1
    path = root / "web1" / "mlflow.password"
    assert path.read_text() == values[0] + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / ".lock").stat().st_mode) == 0o600
    # A key given as a path (the `dir` option) lives there, as today's files do.
    store = LocalStore(root)
    store.put(str(tmp_path / "elsewhere" / "x.password"), "v")
    assert (tmp_path / "elsewhere" / "x.password").read_text() == "v\n"
    assert list(root.glob("**/.*.password.*")) == []  # no temp file left


def test_vault_store_round_trip_encrypted_at_rest(tmp_path):
    path = tmp_path / "team.secrets.yml"
    store = _vault(path)
    assert store.get("web1/mysql-mlflow.password") is None
    value, created = store.get_or_create("web1/mysql-mlflow.password", lambda: "s3cret-Value-1")
    assert (value, created) == ("s3cret-Value-1", True)
    store.put("web1/mlflow.password", "other-value-22")
    raw = path.read_bytes()
    assert raw.startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert b"s3cret" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = _vault(path)
    assert again.get("web1/mysql-mlflow.password") == "s3cret-Value-1"
    assert again.get_or_create("web1/mlflow.password", lambda: "never")[0] == "other-value-22"
    assert "web1/mlflow.password" in again.where("web1/mlflow.password")


def test_vault_store_says_what_is_wrong_without_values(tmp_path):
    path = tmp_path / "team.secrets.yml"
    _vault(path).put("a/b", "s3cret-Value-1")
    with pytest.raises(
        StoreError, match=r"cannot decrypt the ansible-vault store .*team\.secrets\.yml"
    ):
        _vault(path, b"wrong").get("a/b")
    with pytest.raises(StoreError, match="needs the vault password: give --vault-password-file"):
        VaultStore(path, []).get("a/b")
    path.write_text("plain: text\n")
    with pytest.raises(StoreError):
        _vault(path).get("a/b")


def test_open_store_names_the_variable_and_what_is_allowed(tmp_path):
    with pytest.raises(StoreError, match="mlflow_provision_secrets_store: 'vault1' is not one of"):
        open_store("vault1")
    with pytest.raises(StoreError, match="mlflow_provision_secrets_vault_file"):
        open_store("vault")
    with pytest.raises(StoreError, match="mlflow_provision_secrets_keyvault_url"):
        open_store("azure_keyvault", keyvault_url="http://plain.example")


def test_keyvault_names_are_valid_readable_and_distinct():
    names = {keyvault_name(k) for k in ("web1/mlflow.password", "web1/mlflow-password", "a" * 300)}
    assert len(names) == 3
    for name in names:
        assert 1 <= len(name) <= 127 and all(c.isalnum() or c == "-" for c in name)
    assert keyvault_name("web1/mlflow.password").startswith("web1-mlflow-password-")


@pytest.fixture(scope="module")
def keyvault(tmp_path_factory):
    fake = FakeKeyVault(tmp_path_factory.mktemp("keyvault")).start()
    with fake.in_this_process():
        yield fake
    fake.stop()


def test_keyvault_store_with_the_real_client(keyvault):
    store = open_store("azure_keyvault", keyvault_url=VAULT_URL)
    assert store.get("web1/mlflow.password") is None
    value, created = store.get_or_create("web1/mlflow.password", lambda: "kv-Value-123456")
    assert created and value == "kv-Value-123456"
    assert KeyVaultStore(VAULT_URL).get("web1/mlflow.password") == "kv-Value-123456"
    name = keyvault_name("web1/mlflow.password")
    assert keyvault.values("mlflow-team.vault.azure.net") == {name: "kv-Value-123456"}
    [version] = keyvault.secrets[("mlflow-team.vault.azure.net", name)]
    assert version["tags"] == {KEYVAULT_TAG: "web1/mlflow.password"}
    # The challenge came first, then only authorized requests.
    assert keyvault.requests[0][3] is False
    assert all(authorized for *_, authorized in keyvault.requests[1:])
    assert store.where("web1/mlflow.password") == f"Azure Key Vault {VAULT_URL}, secret {name}"


def test_keyvault_store_without_access_waits_for_the_role_then_says_so(keyvault, monkeypatch):
    monkeypatch.setattr(KeyVaultStore, "RBAC_WAIT", 0.0)
    keyvault.forbidden = True
    try:
        with pytest.raises(StoreError, match=r"this identity may not read secret .* \(403"):
            KeyVaultStore(VAULT_URL).get("web1/other")
    finally:
        keyvault.forbidden = False
    # A role assignment that arrives while the store waits: the call goes through.
    monkeypatch.setattr(KeyVaultStore, "RBAC_WAIT", 30.0)
    monkeypatch.setattr(KeyVaultStore, "RBAC_POLL", 0.5)
    keyvault.forbidden = True
    timer = threading.Timer(1.0, lambda: setattr(keyvault, "forbidden", False))
    timer.start()
    started = time.monotonic()
    assert KeyVaultStore(VAULT_URL).get("web1/other") is None
    assert 1.0 <= time.monotonic() - started < 10


def _req(root, name="mysql-mlflow.password", in_use=None):
    return Request(name=name, key=f"web1/{name}", host="web1", in_use=in_use)


def test_a_missing_secret_is_made_only_when_no_host_uses_one(tmp_path):
    store = LocalStore(tmp_path)
    value, state = resolve(store, _req(tmp_path, in_use=False))
    assert state == "new" and len(value) == 32
    assert resolve(store, _req(tmp_path, in_use=True)) == (value, "present")

    with pytest.raises(SecretRefused) as refused:
        resolve(store, _req(tmp_path, "mlflow.password", in_use=True))
    text = str(refused.value)
    assert "secret mlflow.password is missing from the store" in text
    assert str(tmp_path / "web1" / "mlflow.password") in text
    assert "web1 already uses one: nothing was changed" in text
    assert '"mlflow_provision_rotate": ["mlflow.password"]' in text
    assert store.get("web1/mlflow.password") is None


def test_unknown_hosts_preview_and_check_mode_store_nothing(tmp_path):
    store = LocalStore(tmp_path)
    value, state = resolve(store, _req(tmp_path), preview=True)
    assert state == "preview" and len(value) == 32
    with pytest.raises(SecretRefused, match="only a deploy may make one"):
        resolve(store, _req(tmp_path))
    assert resolve(store, _req(tmp_path, in_use=False), check_mode=True)[1] == "check"
    assert list(tmp_path.iterdir()) in ([], [tmp_path / ".lock"])


def test_rotation_happens_once_per_run(tmp_path):
    store = LocalStore(tmp_path)
    old, _ = resolve(store, _req(tmp_path, in_use=False))
    new, state = resolve(store, _req(tmp_path, in_use=True), rotate_run="run-1")
    assert state == "rotated" and new != old
    # The cluster's next host, a later task of the same run: the same new value.
    assert resolve(store, _req(tmp_path, in_use=True), rotate_run="run-1") == (new, "present")
    assert resolve(store, _req(tmp_path, in_use=True), rotate_run="run-2")[0] != new
    # Check mode: a stand-in, nothing stored.
    before = store.get("web1/mysql-mlflow.password")
    assert resolve(store, _req(tmp_path), check_mode=True, rotate_run="run-3")[1] == "rotated"
    assert store.get("web1/mysql-mlflow.password") == before
