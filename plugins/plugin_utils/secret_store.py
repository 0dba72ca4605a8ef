# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Where the deploy keeps the secrets it generates: one interface, three stores.

- `local`: one 0600 file per secret under a 0700 directory of this machine (the default, and
  the layout of every release before the stores: `<dir>/<scope>/<name>`);
- `vault`: one ansible-vault encrypted YAML file the team keeps beside its inventory
  (`mlflow_provision_secrets: {"<scope>/<name>": value}`), read and written with the vault
  secrets the run was given (--vault-password-file, ANSIBLE_VAULT_PASSWORD_FILE);
- `azure_keyvault`: Azure Key Vault secrets (azure-keyvault-secrets, DefaultAzureCredential),
  one per `<scope>/<name>`, named so that Key Vault accepts it and tagged with the key.

Generating is "first writer wins": `get_or_create` takes a lock on this machine and adds a value
only when none is stored, so the forks of one run that share a secret (the hosts of a cluster)
all get the same value. Values never appear in exceptions or in `where()`."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets as random_secrets
import string
import tempfile
from pathlib import Path

STORES = ("local", "vault", "azure_keyvault")
VAULT_ROOT_KEY = "mlflow_provision_secrets"
# Key Vault: 1-127 characters of 0-9, a-z, A-Z and "-".
_KEYVAULT_NAME = re.compile(r"[^0-9A-Za-z]+")
KEYVAULT_TAG = "mlflow-provision-key"
_CHARSETS = {
    "ascii_letters": string.ascii_letters,
    "ascii_lowercase": string.ascii_lowercase,
    "ascii_uppercase": string.ascii_uppercase,
    "digits": string.digits,
    "hexdigits": string.hexdigits,
    # No quote or backslash: the values end up in URLs, INI and env files.
    "punctuation": "!#$%&()*+,-./:;<=>?@[]^_{|}~",
}


class StoreError(Exception):
    """A store that cannot be read or written (message names the store, never a value)."""


def generate(length=32, chars=("ascii_letters", "digits")) -> str:
    """A random value from the named character sets (or literal characters)."""
    alphabet = "".join(sorted(set("".join(_CHARSETS.get(c, c) for c in chars))))
    if not alphabet or int(length) < 8:
        raise StoreError("a generated secret needs at least 8 characters from a non-empty set")
    return "".join(random_secrets.choice(alphabet) for _index in range(int(length)))


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive lock on this machine (forks of one run, or two runs at once)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes):
    """Replace `path` atomically with a 0600 file (never a moment with other modes)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class Store:
    kind = ""

    def get(self, key: str) -> str | None:
        raise NotImplementedError

    def put(self, key: str, value: str) -> None:
        raise NotImplementedError

    def where(self, key: str) -> str:
        """Where `key` lives, for people (never the value)."""
        raise NotImplementedError

    def lock_path(self) -> Path:
        raise NotImplementedError

    def get_or_create(self, key: str, make) -> tuple[str, bool]:
        """The stored value, else `make()` stored now; (value, created)."""
        with locked(self.lock_path()):
            found = self.get(key)
            if found is not None:
                return found, False
            value = make()
            self.put(key, value)
            return value, True

    def replace_once(self, key: str, make, run_id: str) -> tuple[str, bool]:
        """Rotate `key` once per run: a new value unless this run (`run_id`) rotated it already
        (the other hosts of a cluster, later tasks); (value, rotated now)."""
        marker = key + ".rotated-by-run"
        with locked(self.lock_path()):
            if self.get(marker) == run_id and (found := self.get(key)) is not None:
                return found, False
            value = make()
            self.put(key, value)
            self.put(marker, run_id)
            return value, True


class LocalStore(Store):
    """Files under `root` (`root/<key>`), or for a key given with its own directory, there."""

    kind = "local"

    def __init__(self, root):
        self.root = Path(os.path.expanduser(str(root)))

    def path(self, key: str) -> Path:
        if key.startswith(("/", "~")):
            return Path(os.path.expanduser(key))
        return self.root / key

    def get(self, key):
        try:
            return self.path(key).read_text().rstrip("\n")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StoreError(f"cannot read {self.path(key)}: {err.strerror}") from None

    def put(self, key, value):
        try:
            _write_private(self.path(key), (value + "\n").encode())
        except OSError as err:
            raise StoreError(f"cannot write {self.path(key)}: {err.strerror}") from None

    def where(self, key):
        return f"file {self.path(key)}"

    def lock_path(self):
        return self.root / ".lock"


class VaultStore(Store):
    """An ansible-vault encrypted YAML file: {mlflow_provision_secrets: {key: value}}."""

    kind = "vault"

    def __init__(self, path, vault_secrets):
        self.path = Path(os.path.expanduser(str(path)))
        # [(vault_id, VaultSecret)], as Ansible's loader holds them.
        self.vault_secrets = list(vault_secrets or [])

    def _vault(self):
        from ansible.parsing.vault import VaultLib

        if not self.vault_secrets:
            raise StoreError(
                f"the ansible-vault store {self.path} needs the vault password: give"
                " --vault-password-file FILE (or --vault-id), or set ANSIBLE_VAULT_PASSWORD_FILE"
            )
        return VaultLib(self.vault_secrets)

    def _read(self) -> dict:
        import yaml
        from ansible.errors import AnsibleError

        if not self.path.exists():
            return {}
        try:
            plain = self._vault().decrypt(self.path.read_bytes())
        except AnsibleError as err:
            raise StoreError(
                f"cannot decrypt the ansible-vault store {self.path} with the vault password"
                f" given ({str(err).splitlines()[0][:120]})"
            ) from None
        data = yaml.safe_load(plain) or {}
        if not isinstance(data, dict) or not isinstance(data.get(VAULT_ROOT_KEY, {}), dict):
            raise StoreError(f"{self.path} is not a secrets file: no mapping {VAULT_ROOT_KEY}")
        return dict(data.get(VAULT_ROOT_KEY) or {})

    def get(self, key):
        value = self._read().get(key)
        return None if value is None else str(value)

    def put(self, key, value):
        import yaml

        data = self._read()
        # Plain str (a templated value may be a str subclass YAML does not know).
        data[key.encode().decode()] = value.encode().decode()
        text = (
            "# Generated secrets of mlflow-provision (ansible-vault encrypted): keep it beside\n"
            "# the inventory, in version control; never edit a value that is in use.\n"
            + yaml.safe_dump({VAULT_ROOT_KEY: dict(sorted(data.items()))}, default_flow_style=False)
        )
        vault_id, secret = self._encrypt_secret()
        encrypted = self._vault().encrypt(text, secret=secret, vault_id=vault_id)
        try:
            _write_private(self.path, encrypted)
        except OSError as err:
            raise StoreError(f"cannot write {self.path}: {err.strerror}") from None

    def _encrypt_secret(self):
        """The identity Ansible itself encrypts with: DEFAULT_VAULT_ENCRYPT_IDENTITY, else the
        first given."""
        from ansible import constants as C

        wanted = C.DEFAULT_VAULT_ENCRYPT_IDENTITY
        for vault_id, secret in self.vault_secrets:
            if wanted and vault_id == wanted:
                return vault_id, secret
        vault_id, secret = self.vault_secrets[0]
        return (None if vault_id == "default" else vault_id), secret

    def where(self, key):
        return f"ansible-vault file {self.path}, key {key}"

    def lock_path(self):
        return self.path.with_name(f".{self.path.name}.lock")


def keyvault_name(key: str) -> str:
    """A Key Vault secret name for `key`: readable, and unique through a digest of the key."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    slug = _KEYVAULT_NAME.sub("-", key).strip("-")[:100]
    return f"{slug}-{digest}" if slug else f"mp-{digest}"


class KeyVaultStore(Store):
    """Azure Key Vault secrets, through the SDK and DefaultAzureCredential."""

    kind = "azure_keyvault"

    # A role assignment takes a while to reach Key Vault's data plane (minutes at worst): a
    # vault made moments ago answers 403 to its own officers meanwhile. Seconds to keep trying.
    RBAC_WAIT = float(os.environ.get("MLFLOW_PROVISION_KEYVAULT_RBAC_WAIT", "180"))
    RBAC_POLL = 10.0

    def __init__(self, url, client=None):
        self.url = str(url).rstrip("/")
        self._client = client

    def client(self):
        if self._client is None:
            try:
                from azure.identity import DefaultAzureCredential
                from azure.keyvault.secrets import SecretClient
            except ImportError:
                raise StoreError(
                    "the Azure Key Vault store needs azure-identity and azure-keyvault-secrets"
                    " on the controller (pip install mlflow-provision installs them)"
                ) from None
            self._client = SecretClient(self.url, DefaultAzureCredential())
        return self._client

    def _call(self, what, func):
        import time

        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
        )

        deadline = time.monotonic() + self.RBAC_WAIT
        while True:
            try:
                return func()
            except ClientAuthenticationError as err:
                raise StoreError(
                    f"Azure Key Vault {self.url}: no credential may {what} (DefaultAzureCredential:"
                    " a service principal or workload identity in the environment, a managed"
                    f" identity, or `az login`): {_first_line(err)}"
                ) from None
            except HttpResponseError as err:
                if err.status_code != 403:
                    raise StoreError(
                        f"Azure Key Vault {self.url}: cannot {what}: {_first_line(err)}"
                    ) from None
                if time.monotonic() < deadline:
                    time.sleep(min(self.RBAC_POLL, max(0.0, deadline - time.monotonic())))
                    continue
                raise StoreError(
                    f"Azure Key Vault {self.url}: this identity may not {what} (403, also after"
                    f" {self.RBAC_WAIT:.0f} s for a new role assignment to arrive): it needs the"
                    " role Key Vault Secrets Officer on the vault"
                    " (azure_vm_keyvault_secret_officers)"
                ) from None
            except AzureError as err:
                raise StoreError(
                    f"Azure Key Vault {self.url}: cannot {what}: {_first_line(err)}"
                ) from None

    def get(self, key):
        from azure.core.exceptions import ResourceNotFoundError

        name = keyvault_name(key)

        def read():
            try:
                return self.client().get_secret(name).value
            except ResourceNotFoundError:
                return None

        return self._call(f"read secret {name}", read)

    def put(self, key, value):
        name = keyvault_name(key)
        self._call(
            f"write secret {name}",
            lambda: self.client().set_secret(
                name, value, tags={KEYVAULT_TAG: key[:256]}, content_type="mlflow-provision"
            ),
        )

    def where(self, key):
        return f"Azure Key Vault {self.url}, secret {keyvault_name(key)}"

    def lock_path(self):
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"mlflow-provision-{os.getuid()}" / f"kv-{digest}.lock"


def _first_line(err) -> str:
    text = str(getattr(err, "message", None) or err)
    return text.splitlines()[0][:200] if text else type(err).__name__


def open_store(kind, *, dir=None, vault_file=None, vault_secrets=None, keyvault_url=None):
    """The store an inventory chose (mlflow_provision_secrets_store and its settings)."""
    if kind == "local":
        return LocalStore(dir or default_dir())
    if kind == "vault":
        if not vault_file:
            raise StoreError("store vault needs mlflow_provision_secrets_vault_file (a file path)")
        return VaultStore(vault_file, vault_secrets)
    if kind == "azure_keyvault":
        if not str(keyvault_url or "").startswith("https://"):
            raise StoreError(
                "store azure_keyvault needs mlflow_provision_secrets_keyvault_url, the vault's"
                " https:// URL (e.g. https://mlflow-team.vault.azure.net)"
            )
        return KeyVaultStore(keyvault_url)
    raise StoreError(f"mlflow_provision_secrets_store: {kind!r} is not one of {', '.join(STORES)}")


def default_dir() -> str:
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config, "mlflow-provision", "credentials")
