# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Role nginx_tls's self-signed certificate, on the controller: an ECDSA P-256 key, and a
certificate it signs for the server's names and IP addresses, made again only when it must be.

What community.crypto's openssl_privatekey, openssl_csr_pipe, x509_certificate_info and
x509_certificate did in four module runs, in-process (the action nginx_tls_self_signed). The
certificate: CN the first name, SANs every name (DNS) and address (IP), CA:FALSE, key usage
digitalSignature and keyEncipherment, extended key usage serverAuth, at most `days` long.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # the action says so (ansible-core installs it; a bare Python may not)
    x509 = None

MISSING = (
    "the Python package cryptography (42 or newer) is missing on the controller: install it"
    " into the Python that runs Ansible"
    if x509 is None
    else ""
)
# A certificate this close to its end is made again (as the role's renewal always did).
RENEW_DAYS = 30


def new_key_pem() -> str:
    """A new ECDSA P-256 private key, PEM (OpenSSL's traditional form, as openssl_privatekey)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _key(key_pem: str):
    return serialization.load_pem_private_key(key_pem.encode(), password=None)


def _wanted_sans(names, ips) -> set:
    return {("DNS", n) for n in names} | {("IP", str(ipaddress.ip_address(a))) for a in ips}


def _sans_of(cert) -> set:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {("DNS", n) for n in ext.get_values_for_type(x509.DNSName)} | {
        ("IP", str(a)) for a in ext.get_values_for_type(x509.IPAddress)
    }


def certificate_problems(cert_pem, key_pem, names, ips, now=None) -> list[str]:
    """Why the certificate must be made again (empty: it is right). `names` and `ips` are what
    it must name, the first name its common name."""
    if not cert_pem:
        return ["there is none"]
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        return ["it cannot be read"]
    now = now or dt.datetime.now(dt.UTC)
    problems = []
    public = (
        _key(key_pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    if (
        cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        != public
    ):
        problems.append("it is not for the kept key")
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or not common or common[0].value != names[0]:
        problems.append("its common name differs")
    if _sans_of(cert) != _wanted_sans(names, ips):
        problems.append("its names differ")
    if cert.not_valid_after_utc - now < dt.timedelta(days=RENEW_DAYS):
        problems.append(f"it ends within {RENEW_DAYS} days")
    return problems


def sign(key_pem: str, names, ips, days: int, now=None) -> str:
    """A certificate for `names` (the first the common name) and `ips`, signed by the key."""
    key = _key(key_pem)
    now = now or dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=int(days)))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def plan(key_pem, cert_pem, names, ips, days, now=None) -> dict:
    """The key and certificate to keep: {"key", "certificate", "new_key", "signed", "reasons"}.
    A missing or unreadable key is made; the certificate is signed again when it must be."""
    new_key = False
    if key_pem:
        try:
            _key(key_pem)
        except (ValueError, TypeError):
            key_pem = None
    if not key_pem:
        key_pem, new_key = new_key_pem(), True
    reasons = certificate_problems(cert_pem, key_pem, names, ips, now)
    if reasons:
        cert_pem = sign(key_pem, names, ips, days, now)
    return {
        "key": key_pem,
        "certificate": cert_pem,
        "new_key": new_key,
        "signed": bool(reasons),
        "reasons": reasons,
    }
