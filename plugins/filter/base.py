# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Filters of role base: which extra CA certificates to install as files of their own, and the
firewall's networks as nftables set elements."""

from __future__ import annotations

import hashlib
import ipaddress
import re

BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
_PEM = re.compile(re.escape(BEGIN) + r"[^-]+" + re.escape(END))


def _bodies(text):
    """The base64 body of every certificate in a PEM text, whitespace removed."""
    for pem in _PEM.findall(text or ""):
        yield re.sub(r"\s", "", pem[len(BEGIN) : -len(END)])


def _fingerprint(body):
    return hashlib.sha256(body.encode()).hexdigest()


def ca_certificates_to_install(texts, bundle="", installed=()):
    """{fingerprint: PEM} of every certificate in `texts` (PEM texts, each holding one or
    several) that the host does not trust already. `bundle` is the host's CA bundle; a
    certificate in it counts as trusted unless it is there only because this role installed it
    (`installed`: the paths of the role's own files, named <fingerprint>.crt). Each PEM is
    re-wrapped at 64 columns, so that the same certificate always gives the same file."""
    ours = {re.sub(r"\.crt$", "", str(path).rsplit("/", 1)[-1]) for path in installed}
    trusted = {_fingerprint(body) for body in _bodies(bundle)} - ours
    wanted = {}
    for text in texts:
        for body in _bodies(text):
            fingerprint = _fingerprint(body)
            if fingerprint not in trusted:
                lines = [body[i : i + 64] for i in range(0, len(body), 64)]
                wanted[fingerprint] = "\n".join([BEGIN, *lines, END]) + "\n"
    return wanted


def ca_certificate_files(wanted, directory):
    """The files of `wanted` ({fingerprint: PEM}) for module file_set: <directory>/<fp>.crt."""
    return [
        {"dest": f"{directory}/{fingerprint}.crt", "content": pem, "mode": "0644"}
        for fingerprint, pem in wanted.items()
    ]


def nft_networks(items, version):
    """The IPv`version` networks among `items` (addresses or CIDRs) as nftables set elements:
    `network/prefix` (host bits cleared; an address is its /32 or /128), each once, in order,
    joined by ", ". What ansible.utils' ipv4/ipv6 and ipaddr('network/prefix') gave, with the
    standard library (the template rendered in about a second with netaddr's import)."""
    found = []
    for item in items:
        try:
            network = ipaddress.ip_network(str(item).strip(), strict=False)
        except ValueError:
            continue
        if network.version == int(version) and str(network) not in found:
            found.append(str(network))
    return ", ".join(found)


class FilterModule:
    def filters(self):
        return {
            "ca_certificates_to_install": ca_certificates_to_install,
            "ca_certificate_files": ca_certificate_files,
            "nft_networks": nft_networks,
        }
