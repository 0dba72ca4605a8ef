"""Role base's filter: which extra CA certificates become files (plugins/filter/base.py)."""

import hashlib
import re

from ansible_collections.mlflow_provision.tracking.plugins.filter.base import (
    ca_certificate_files,
    ca_certificates_to_install,
    nft_networks,
)
from conftest import ROOT

TEST_CA = (ROOT / "molecule/base/files/test-ca.pem").read_text()


def _body(pem):
    return re.sub(r"\s|-----[A-Z ]+-----", "", pem)


def _fp(pem):
    return hashlib.sha256(_body(pem).encode()).hexdigest()


def _fake(n):
    """A syntactically PEM certificate (the filter never parses the DER)."""
    body = (f"MIIB{n}" * 30)[:130]
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def test_each_certificate_of_a_bundle_becomes_its_own_file_named_by_fingerprint():
    bundle = _fake(1) + "junk between\n" + _fake(2)
    wanted = ca_certificates_to_install([bundle])
    assert set(wanted) == {_fp(_fake(1)), _fp(_fake(2))}
    # Re-wrapped at 64 columns: the same certificate gives the same file, however it was written.
    pem = wanted[_fp(_fake(1))]
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n") and pem.endswith(
        "-----END CERTIFICATE-----\n"
    )
    assert max(len(line) for line in pem.splitlines()) <= 64
    one_line = _fake(1).replace("\n", " ")
    assert ca_certificates_to_install([one_line]) == {_fp(_fake(1)): pem}


def test_certificates_the_host_trusts_already_are_skipped_unless_they_are_ours():
    host_bundle = _fake(1) + _fake(2)
    wanted = ca_certificates_to_install([_fake(1) + _fake(3)], host_bundle)
    assert set(wanted) == {_fp(_fake(3))}
    # In the host's bundle only because this role installed it: still wanted (kept).
    ours = [f"/usr/local/share/ca-certificates/mlflow-provision/{_fp(_fake(1))}.crt"]
    kept = ca_certificates_to_install([_fake(1)], host_bundle, ours)
    assert set(kept) == {_fp(_fake(1))}


def test_a_real_certificate_and_duplicates():
    wanted = ca_certificates_to_install([TEST_CA, TEST_CA, "no pem here"])
    assert list(wanted) == [_fp(TEST_CA)]
    assert _body(wanted[_fp(TEST_CA)]) == _body(TEST_CA)
    assert ca_certificates_to_install([]) == {}


def test_the_files_module_file_set_writes():
    wanted = ca_certificates_to_install([_fake(1)])
    assert ca_certificate_files(wanted, "/usr/local/share/ca-certificates/x") == [
        {
            "dest": f"/usr/local/share/ca-certificates/x/{_fp(_fake(1))}.crt",
            "content": wanted[_fp(_fake(1))],
            "mode": "0644",
        }
    ]


def test_nft_networks_as_ansible_utils_gave_them():
    items = ["10.0.0.5/8", "192.0.2.7", "10.1.0.0/8", "2001:db8::1/64", "fd00::/8", "not-an-ip"]
    assert nft_networks(items, 4) == "10.0.0.0/8, 192.0.2.7/32"
    assert nft_networks(items, 6) == "2001:db8::/64, fd00::/8"
    assert nft_networks([], 4) == ""
