#!/usr/bin/python
"""Own nginx's basic-auth password file: exactly the listed users, each with a hash nginx
checks in microseconds. Hashes are only rewritten when the password or the scheme changed."""

DOCUMENTATION = r"""
module: nginx_tls_htpasswd
short_description: The basic-auth password file of role nginx_tls, with per-request-cheap hashes.
description:
  - Writes an htpasswd file that holds exactly the given users (users not listed are removed).
  - Scheme C(ssha) ({SSHA}, one salted SHA-1, checked by nginx itself in about a microsecond) is for
    generated high-entropy passwords; C(sha256_crypt) (SHA-256-crypt, 1000 rounds, checked by libcrypt
    in a fraction of a millisecond) is for passwords people chose.
  - An entry is kept when its password still verifies and its scheme (and rounds) are the wanted
    ones, so a run that changes nothing rewrites nothing. Any other entry (bcrypt from older
    releases, a rotated password) is hashed again.
options:
  path: {type: path, required: true, description: The password file.}
  users:
    type: list
    elements: dict
    required: true
    description: The users the file holds; every other entry is removed.
    suboptions:
      name: {type: str, required: true, description: User name.}
      password: {type: str, required: true, description: Password (never returned).}
      scheme: {type: str, required: true, choices: [ssha, sha256_crypt], description: Hash scheme.}
  owner: {type: str, description: Owner of the file.}
  group: {type: str, description: Group of the file.}
  mode: {type: raw, description: Mode of the file.}
author:
  - mlflow-provision developers (@mlflow-provision)
"""

EXAMPLES = r"""
- name: Write the password file
  mlflow_provision.tracking.nginx_tls_htpasswd:
    path: /etc/nginx/mlflow.htpasswd
    users: [{name: mlflow, password: "{{ generated_password }}", scheme: ssha}]
    owner: root
    group: www-data
    mode: "0640"
"""

RETURN = r"""
added: {description: Users added., type: list, elements: str, returned: always}
updated: {description: "Users whose hash was written again (new password or scheme).", type: list, elements: str, returned: always}
removed: {description: Users removed because they are no longer listed., type: list, elements: str, returned: always}
"""

import base64
import hashlib
import hmac
import os

from ansible.module_utils.basic import AnsibleModule

try:
    from passlib.hash import sha256_crypt

    HAS_PASSLIB = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_PASSLIB = False

SCHEMES = ("ssha", "sha256_crypt")
# SHA-256-crypt's minimum: every round is paid on every request nginx checks.
SHA256_CRYPT_ROUNDS = 1000
SSHA_SALT_BYTES = 16


def hash_password(password, scheme, salt=None):
    if scheme == "ssha":
        salt = os.urandom(SSHA_SALT_BYTES) if salt is None else salt
        digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - see role README
        return "{SSHA}" + base64.b64encode(digest + salt).decode()
    return sha256_crypt.using(rounds=SHA256_CRYPT_ROUNDS).hash(password)


def scheme_of(stored):
    if stored.startswith("{SSHA}"):
        return "ssha"
    if stored.startswith(f"$5$rounds={SHA256_CRYPT_ROUNDS}$"):
        return "sha256_crypt"
    return None


def verifies(password, stored, scheme):
    """True when `stored` is a hash of `password` in exactly `scheme` (rounds included)."""
    if scheme_of(stored) != scheme:
        return False
    if scheme == "ssha":
        try:
            raw = base64.b64decode(stored[len("{SSHA}") :], validate=True)
        except ValueError:
            return False
        if len(raw) <= 20:
            return False
        digest, salt = raw[:20], raw[20:]
        expected = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324
        return hmac.compare_digest(digest, expected)
    return sha256_crypt.verify(password, stored)


def parse(text):
    """htpasswd lines -> ordered {name: hash}; blank lines and comments are dropped."""
    entries = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        name, stored = line.split(":", 1)
        entries[name] = stored.strip()
    return entries


def reconcile(current, users):
    """The wanted file content and what changed, from the current entries and the user list."""
    wanted, added, updated = {}, [], []
    for user in users:
        name, password, scheme = user["name"], user["password"], user["scheme"]
        stored = current.get(name)
        if stored is not None and verifies(password, stored, scheme):
            wanted[name] = stored
            continue
        wanted[name] = hash_password(password, scheme)
        (updated if stored is not None else added).append(name)
    removed = [name for name in current if name not in wanted]
    content = "".join(f"{name}:{stored}\n" for name, stored in wanted.items())
    return content, added, updated, removed


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "users": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "password": {"type": "str", "required": True, "no_log": True},
                    "scheme": {"type": "str", "required": True, "choices": list(SCHEMES)},
                },
            },
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "mode": {"type": "raw"},
        },
        supports_check_mode=True,
    )
    if not HAS_PASSLIB:
        module.fail_json(msg="nginx_tls_htpasswd needs passlib on the host (python3-passlib)")
    path = module.params["path"]
    try:
        with open(path, encoding="utf-8") as handle:
            current = parse(handle.read())
    except FileNotFoundError:
        current = {}
    content, added, updated, removed = reconcile(current, module.params["users"])
    changed = bool(added or updated or removed)
    result = {"added": added, "updated": updated, "removed": removed}
    if changed and not module.check_mode:
        tmp = f"{path}.tmp-{os.getpid()}"
        # Created 0600: the hashes are never readable by others, not even for a moment.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        module.atomic_move(tmp, path)
    file_args = module.load_file_common_arguments(module.params, path=path)
    if os.path.exists(path):
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
