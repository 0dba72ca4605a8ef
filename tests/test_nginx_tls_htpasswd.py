"""Role nginx_tls's password-file module: hashes nginx checks per request; reconciliation."""

import base64
import hashlib
import importlib.util
import warnings

from conftest import ROOT

spec = importlib.util.spec_from_file_location(
    "nginx_tls_htpasswd", ROOT / "plugins/modules/nginx_tls_htpasswd.py"
)
htpasswd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(htpasswd)

GENERATED = "Zx8kq2LmN4pR7sT1vW3yA5cE9gH0jK6b"
CHOSEN = "correct horse battery staple"


def libcrypt_verifies(password, stored):
    """What nginx does for a crypt(3) hash: crypt(password, stored) == stored."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt as libcrypt

    return libcrypt.crypt(password, stored) == stored


def nginx_ssha_verifies(password, stored):
    """nginx's own {SSHA} check (ngx_crypt_ssha): SHA-1 of password + salt, salt after 20 bytes."""
    raw = base64.b64decode(stored[len("{SSHA}") :])
    return hashlib.sha1(password.encode() + raw[20:]).digest() == raw[:20]


def test_ssha_is_what_nginx_checks_and_salted():
    first = htpasswd.hash_password(GENERATED, "ssha")
    second = htpasswd.hash_password(GENERATED, "ssha")
    assert first.startswith("{SSHA}") and first != second
    assert nginx_ssha_verifies(GENERATED, first)
    assert not nginx_ssha_verifies(GENERATED + "x", first)
    assert len(base64.b64decode(first[6:])) == 20 + htpasswd.SSHA_SALT_BYTES


def test_sha256_crypt_has_minimum_rounds_and_libcrypt_verifies_it():
    stored = htpasswd.hash_password(CHOSEN, "sha256_crypt")
    assert stored.startswith("$5$rounds=1000$")
    assert libcrypt_verifies(CHOSEN, stored)
    assert not libcrypt_verifies(CHOSEN + "!", stored)


def test_verifies_needs_the_same_scheme_and_rounds():
    ssha = htpasswd.hash_password(CHOSEN, "ssha")
    assert htpasswd.verifies(CHOSEN, ssha, "ssha")
    assert not htpasswd.verifies(CHOSEN, ssha, "sha256_crypt")
    assert not htpasswd.verifies("other", ssha, "ssha")
    slow = "$5$rounds=535000$abcdefgh$" + "x" * 43
    assert not htpasswd.verifies(CHOSEN, slow, "sha256_crypt")
    assert not htpasswd.verifies(CHOSEN, "{SSHA}not base64!", "ssha")
    assert not htpasswd.verifies(CHOSEN, "{SSHA}" + base64.b64encode(b"short").decode(), "ssha")


def test_reconcile_keeps_matching_entries_and_reports_nothing():
    users = [
        {"name": "mlflow", "password": GENERATED, "scheme": "ssha"},
        {"name": "alice", "password": CHOSEN, "scheme": "sha256_crypt"},
    ]
    content, added, updated, removed = htpasswd.reconcile({}, users)
    assert (added, updated, removed) == (["mlflow", "alice"], [], [])
    again = htpasswd.reconcile(htpasswd.parse(content), users)
    assert again == (content, [], [], [])


def test_reconcile_rotates_migrates_and_removes():
    bcrypt_entry = "$2b$12$abcdefghijklmnopqrstuuWQ3cJ9t8nF6V2Gm1z0R5yYkq7eXh7K"
    current = {
        "mlflow": htpasswd.hash_password("old password here", "ssha"),
        "alice": bcrypt_entry,
        "gone": htpasswd.hash_password(GENERATED, "ssha"),
    }
    users = [
        {"name": "mlflow", "password": GENERATED, "scheme": "ssha"},
        {"name": "alice", "password": CHOSEN, "scheme": "sha256_crypt"},
    ]
    content, added, updated, removed = htpasswd.reconcile(current, users)
    assert added == [] and updated == ["mlflow", "alice"] and removed == ["gone"]
    entries = htpasswd.parse(content)
    assert list(entries) == ["mlflow", "alice"]
    assert htpasswd.verifies(GENERATED, entries["mlflow"], "ssha")
    assert htpasswd.verifies(CHOSEN, entries["alice"], "sha256_crypt")


def test_parse_skips_blank_lines_and_comments():
    text = "# comment\n\nmlflow:{SSHA}abc\nbroken line\nbob:$5$rounds=1000$s$h\n"
    assert htpasswd.parse(text) == {"mlflow": "{SSHA}abc", "bob": "$5$rounds=1000$s$h"}
