"""A cluster host's ACME renewal (mode acme, a host that is not the cluster's issuer): fetch the
certificate the issuer serves, install it when it is a newer one for this host's key, reload nginx.

The issuer (one host of the cluster) requests the certificate from the CA for every host and
renews it with dehydrated, keeping the key (PRIVATE_KEY_RENEW=no); Ansible copies that key to the
other hosts over its own SSH connection. A renewal then changes only the certificate, which is
public: the issuer's nginx publishes it over plain HTTP and each other host's timer runs this.

    nginx-tls-acme-follow URL --certificate PATH --key PATH --name NAME [--name NAME ...]
                             [--test-command ...] [--reload-command ...]

A certificate is installed only when it holds this host's public key, is valid now, names every
NAME and ends later than the one served; else nothing changes. Exit status 0 when the served
certificate is the issuer's or newer, 1 (with the reason on stderr) when it could not be brought
up to date: the issuer unreachable, or its certificate for another key (run the deploy: Ansible
copies the new key).
"""

import argparse
import datetime
import os
import re
import subprocess
import sys
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import serialization

PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


class Refused(Exception):
    """The fetched certificate is not one this host may serve; the reason is the message."""


def certificates(pem):
    """The certificates of a PEM chain, leaf first; anything else in it (a key) is refused."""
    if b"PRIVATE KEY" in pem:
        raise Refused("the answer holds a private key; only certificates are accepted")
    # One by one: Debian 12's cryptography (38) has no load_pem_x509_certificates.
    blocks = PEM_BLOCK.findall(pem)
    try:
        chain = [x509.load_pem_x509_certificate(block) for block in blocks]
    except ValueError as exc:
        raise Refused(f"not a PEM certificate chain ({exc})") from None
    if not chain:
        raise Refused("no certificate in the answer")
    return chain


def _valid(cert):
    """(not before, not after) as aware UTC datetimes, with cryptography 38 (Debian 12) or later."""
    utc = datetime.timezone.utc  # noqa: UP017 - Ubuntu 22.04's Python 3.10 has no datetime.UTC
    before = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before.replace(
        tzinfo=utc
    )
    after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=utc)
    return before, after


def _public(key_or_cert):
    return key_or_cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _names(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {name.lower() for name in san.get_values_for_type(x509.DNSName)}


def decide(fetched, served, key_pem, names, now=None):
    """'install' or 'unchanged' for the PEM chain `fetched` against the served chain (bytes or
    None); raises Refused with the reason when `fetched` may not be served here."""
    now = now or datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 - as above
    leaf = certificates(fetched)[0]
    key = serialization.load_pem_private_key(key_pem, password=None)
    if _public(leaf) != _public(key):
        raise Refused(
            "the issuer's certificate is for another key (the issuer made a new one):"
            " run the deploy, which copies the key to every host"
        )
    missing = sorted({n.lower() for n in names} - _names(leaf))
    if missing:
        raise Refused(f"the issuer's certificate does not name {', '.join(missing)}")
    before, after = _valid(leaf)
    if not before <= now < after:
        raise Refused(f"the issuer's certificate is not valid now ({before} to {after})")
    if served is not None:
        if served.strip() == fetched.strip():
            return "unchanged"
        try:
            current = certificates(served)[0]
        except Refused:
            return "install"  # an unreadable served file: the issuer's is better
        if _public(current) == _public(key) and _valid(current)[1] >= after:
            return "unchanged"  # not newer than ours (the issuer not renewed yet, or older)
    return "install"


def install(path, pem):
    """Written beside the live file and renamed over it: nginx never reads half a file."""
    temporary = f"{path}.new"
    with open(temporary, "wb") as handle:
        handle.write(pem.strip() + b"\n")
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def fetch(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http(s) from the role
        return answer.read(1 << 20)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--certificate", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--name", action="append", required=True)
    parser.add_argument("--test-command", nargs="+", default=["nginx", "-t", "-q"])
    parser.add_argument(
        "--reload-command", nargs="+", default=["systemctl", "reload", "nginx.service"]
    )
    args = parser.parse_args(argv)
    try:
        fetched = fetch(args.url)
    except OSError as exc:
        print(f"Could not fetch the issuer's certificate from {args.url}: {exc}", file=sys.stderr)
        return 1
    try:
        with open(args.certificate, "rb") as handle:
            served = handle.read()
    except FileNotFoundError:
        served = None
    with open(args.key, "rb") as handle:
        key_pem = handle.read()
    try:
        action = decide(fetched, served, key_pem, args.name)
    except Refused as exc:
        print(f"Kept the served certificate: {exc} ({args.url})", file=sys.stderr)
        return 1
    leaf = certificates(fetched)[0]
    described = f"serial {leaf.serial_number:x}, expires {_valid(leaf)[1]:%Y-%m-%d %H:%M} UTC"
    if action == "unchanged":
        print(f"The served certificate is up to date with the issuer's ({described})")
        return 0
    install(args.certificate, fetched)
    # A configuration nginx would refuse is reported here (non-zero); nginx keeps serving.
    subprocess.run(args.test_command, check=True)  # noqa: S603 - the unit's own command
    subprocess.run(args.reload_command, check=True)  # noqa: S603 - the unit's own command
    print(f"Installed the issuer's certificate ({described}) and reloaded nginx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
