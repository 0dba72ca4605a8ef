"""The renewal of a cluster's other hosts (roles/nginx_tls/files/nginx-tls-acme-follow.py): a
certificate fetched from the issuer is installed only when it is a newer one for this host's key
and names; everything else leaves the served file alone. Certificates made here; the real thing
runs against Pebble in scenario cluster."""

import datetime
import http.server
import importlib.util
import re
import threading

import pytest
from conftest import ROOT
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

spec = importlib.util.spec_from_file_location(
    "acme_follow", ROOT / "roles/nginx_tls/files/nginx-tls-acme-follow.py"
)
follow = importlib.util.module_from_spec(spec)
spec.loader.exec_module(follow)

NOW = datetime.datetime(2026, 12, 7, 12, tzinfo=datetime.UTC)
NAME = "mlflow.cluster.test"
CA_KEY = ec.generate_private_key(ec.SECP256R1())
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _chain(key=KEY, names=(NAME,), start=-10, days=90, base=NOW):
    """A leaf for `key` (valid from base + start days, for `days`) and its issuer, as PEM."""
    ca = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Intermediate")])
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(base + datetime.timedelta(days=start))
        .not_valid_after(base + datetime.timedelta(days=start + days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(CA_KEY, hashes.SHA256())
    )
    issuer = (
        x509.CertificateBuilder()
        .subject_name(ca)
        .issuer_name(ca)
        .public_key(CA_KEY.public_key())
        .serial_number(1)
        .not_valid_before(base - datetime.timedelta(days=400))
        .not_valid_after(base + datetime.timedelta(days=400))
        .sign(CA_KEY, hashes.SHA256())
    )
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, issuer))


def test_a_renewed_certificate_for_the_same_key_is_installed():
    served, renewed = _chain(start=-80), _chain(start=-1)
    assert follow.decide(renewed, served, _pem_key(KEY), [NAME], NOW) == "install"
    # Nothing served yet (a fresh host) or an unreadable file: the issuer's is better.
    assert follow.decide(renewed, None, _pem_key(KEY), [NAME], NOW) == "install"
    assert follow.decide(renewed, b"garbage", _pem_key(KEY), [NAME], NOW) == "install"


def test_the_same_or_an_older_certificate_changes_nothing():
    served = _chain(start=-1)
    assert follow.decide(served, served, _pem_key(KEY), [NAME], NOW) == "unchanged"
    assert follow.decide(_chain(start=-80), served, _pem_key(KEY), [NAME], NOW) == "unchanged"


# Made in the test (random keys and serials): pytest-xdist's workers must collect the same ids.
REFUSED = {
    "for another key (the issuer made a new one): run the deploy": lambda: _chain(key=OTHER_KEY),
    f"does not name {NAME}": lambda: _chain(names=("other.test",)),
    "is not valid now (expired)": lambda: _chain(start=-100),
    "is not valid now (not yet)": lambda: _chain(start=5),
    "no certificate in the answer": lambda: b"<html>502 Bad Gateway</html>",
    "holds a private key": lambda: _chain() + _pem_key(KEY),
}


@pytest.mark.parametrize("reason", list(REFUSED))
def test_a_certificate_this_host_may_not_serve_is_refused(reason):
    expected = re.escape(reason.split(" (expired)")[0].split(" (not yet)")[0])
    with pytest.raises(follow.Refused, match=expected):
        follow.decide(REFUSED[reason](), _chain(start=-80), _pem_key(KEY), [NAME], NOW)


class _Issuer(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def issuer():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Issuer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/mlflow-provision/certificate.pem"
    server.shutdown()


def _run(url, tmp_path, *extra):
    key = tmp_path / "key.pem"
    key.write_bytes(_pem_key(KEY))
    args = [url, "--certificate", str(tmp_path / "cert.pem"), "--key", str(key), "--name", NAME]
    marker = tmp_path / "reloaded"
    return follow.main(
        [*args, "--test-command", "true", "--reload-command", "touch", str(marker), *extra]
    )


def test_main_installs_a_renewal_reloads_and_then_has_nothing_to_do(issuer, tmp_path, capsys):
    # main() reads the real clock: certificates valid today, whatever day the test runs.
    today = datetime.datetime.now(datetime.UTC)
    _Issuer.body = _chain(start=-1, base=today)
    (tmp_path / "cert.pem").write_bytes(_chain(start=-80, base=today))
    assert _run(issuer, tmp_path) == 0
    assert (tmp_path / "cert.pem").read_bytes().strip() == _Issuer.body.strip()
    assert (tmp_path / "reloaded").exists()
    assert "Installed the issuer's certificate" in capsys.readouterr().out
    (tmp_path / "reloaded").unlink()
    assert _run(issuer, tmp_path) == 0
    assert not (tmp_path / "reloaded").exists()
    assert "up to date" in capsys.readouterr().out


def test_main_keeps_the_served_file_when_the_issuer_is_unreachable_or_refused(tmp_path, capsys):
    (tmp_path / "cert.pem").write_bytes(b"served")
    assert _run("http://127.0.0.1:9/none", tmp_path) == 1
    assert "Could not fetch the issuer's certificate" in capsys.readouterr().err
    assert (tmp_path / "cert.pem").read_bytes() == b"served"
