# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""What dehydrated's output says: whether it issued a certificate, and why it failed.

dehydrated (the ACME client of role nginx_tls) prints its progress on stdout and the CA's
problem documents (RFC 8555, section 6.7) on stderr: as JSON for a refused request, as
JSON.sh lines (``["error","detail"]\t"..."``) for a challenge the CA could not validate.
``failure_cause`` turns them into one sentence that names the cause and what to do. Plain
Python, no Ansible import: tests/test_acme_dehydrated.py calls it with recorded outputs.
"""

from __future__ import annotations

import json
import re

_CURL = re.compile(r"Problem connecting to server \((\w+) for (\S+); curl returned with (\d+)\)")
# What curl's exit codes mean for a client of the CA (man curl, EXIT CODES).
_CURL_CODES = {
    5: "the proxy's name does not resolve",
    6: "its name does not resolve from this host",
    7: "the connection was refused or the network is unreachable (is the CA up?)",
    28: "the connection timed out (a firewall, or the CA is down)",
    35: "the TLS handshake failed",
    52: "it closed the connection without an answer",
    56: "the connection broke off",
    60: "this host does not trust its TLS certificate (an internal CA's root belongs in"
    " base_extra_ca_certificates)",
}
_PROBLEM_TYPE = re.compile(r'"type"\s*:\s*"urn:ietf:params:acme:error:([A-Za-z]+)"')
_PROBLEM_DETAIL = re.compile(r'"detail"\s*:\s*("(?:[^"\\]|\\.)*")')
_JSONSH = re.compile(r'^\["error","(type|detail)"\]\t("(?:[^"\\]|\\.)*")\s*$', re.M)
_STATUS = re.compile(r"An error occurred while sending (\w+)-request to (\S+) \(Status (\d+)\)")
_RETRY_AFTER = re.compile(r"^Retry-After:\s*(\S+)", re.M | re.I)
_URL_NAME = re.compile(r"https?://([A-Za-z0-9.-]+)")
_UNRESOLVED = re.compile(r"no such host|NXDOMAIN|SERVFAIL|resolv|DNS problem|no valid A", re.I)
_UNREACHABLE = re.compile(
    r"refused|timeout|timed out|no route|unreachable|reset by peer|connection", re.I
)


def issued(output: str) -> bool:
    """Whether this run of dehydrated installed a new certificate."""
    return "Creating fullchain.pem" in output


def installed(output: str) -> bool:
    """Whether role nginx_tls's hook put a certificate in place for nginx (a new one, or a valid
    one nginx was not serving) and reloaded nginx."""
    return "Installed the certificate for" in output


def registered(output: str) -> bool:
    """Whether this run of dehydrated registered a new account with the CA."""
    return "Registering account key with ACME server" in output


def _unquote(text: str) -> str:
    try:
        return json.loads(text)
    except ValueError:
        return text.strip('"')


def problem(output: str) -> tuple[str, str] | None:
    """The (type, detail) of the CA's problem document in the output, if there is one; a
    challenge's error (JSON.sh lines) before a request's (JSON)."""
    found = dict((key, _unquote(value)) for key, value in _JSONSH.findall(output))
    if "type" in found:
        return found["type"].rsplit(":", 1)[-1], found.get("detail", "")
    kind = _PROBLEM_TYPE.search(output)
    if kind is None:
        return None
    # CAs write "type" first, then "detail" (Boulder and Pebble alike).
    detail = _PROBLEM_DETAIL.search(output, kind.end())
    return kind.group(1), _unquote(detail.group(1)) if detail else ""


def _name_in(detail: str, names: list[str]) -> str:
    found = _URL_NAME.search(detail)
    if found:
        return found.group(1)
    for name in names:
        if name in detail:
            return name
    return ", ".join(names)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def _problem_cause(kind: str, detail: str, output: str, names: list[str]) -> str:
    name = _name_in(detail, names)
    detail = _sentence(detail)
    if kind == "rateLimited":
        retry = _RETRY_AFTER.search(output)
        when = f" (the CA says: retry after {retry.group(1)})" if retry else ""
        return (
            f"the CA's rate limit was reached{when}: {detail} The renewal timer tries again"
            " twice a day; for tests use nginx_tls_acme_staging"
        )
    if kind in ("connection", "dns") and _UNRESOLVED.search(detail):
        return (
            f"the CA could not resolve {name}: {detail} Point the name's DNS record (A/AAAA)"
            " at this host's public address"
        )
    if kind == "connection" and _UNREACHABLE.search(detail):
        return (
            f"the CA could not connect to {name} on port 80: {detail} Open TCP port 80 to the"
            " Internet (cloud firewall or security group, base_firewall_public_tcp_ports) and"
            " check that the name points at this host"
        )
    if kind in ("unauthorized", "incorrectResponse"):
        return (
            f"the CA reached {name} but not this host's answer to the challenge: {detail}"
            " Does the name point at this host, with nothing in front of port 80 that"
            " changes /.well-known/acme-challenge/?"
        )
    if kind == "caa":
        return f"a CAA record of {name} forbids this CA: {detail}"
    if kind in ("rejectedIdentifier", "malformed") and names:
        return f"the CA refuses to certify {', '.join(names)}: {detail}"
    if kind == "externalAccountRequired":
        return (
            f"the CA requires External Account Binding: {detail} Set nginx_tls_acme_eab_kid"
            " and nginx_tls_acme_eab_hmac_key"
        )
    if kind in ("serverInternal", "badNonce"):
        return f"the CA had an internal error ({kind}): {detail} Run again later"
    return f"the CA answered {kind}: {detail}"


def failure_cause(output: str, names: list[str]) -> str:
    """One sentence: why dehydrated failed and what to do about it."""
    curl = _CURL.search(output)
    if curl:
        code = int(curl.group(3))
        meaning = _CURL_CODES.get(code, "see `man curl`, EXIT CODES")
        return (
            f"the ACME server could not be reached at {curl.group(2)}: {meaning} (curl exit"
            f" {code}). Check nginx_tls_acme_directory_url and the host's outbound HTTPS"
        )
    if "EXPECTED value GOT" in output or "Problem retrieving ACME/CA-URLs" in output:
        return (
            "nginx_tls_acme_directory_url does not answer with an ACME directory (RFC 8555);"
            " give the CA's directory URL (Let's Encrypt's ends in /directory)"
        )
    if "requires an external account but no EAB_KID" in output:
        return (
            "the CA requires External Account Binding: set nginx_tls_acme_eab_kid and"
            " nginx_tls_acme_eab_hmac_key"
        )
    found = problem(output)
    if found:
        return _problem_cause(found[0], found[1].strip(), output, names)
    status = _STATUS.search(output)
    if status:
        return (
            f"the ACME server answered HTTP {status.group(3)} to {status.group(2)}"
            " (down or overloaded?); run again later"
        )
    errors = [line[len("ERROR: ") :] for line in output.splitlines() if line.startswith("ERROR: ")]
    lines = [line for line in output.splitlines() if line.strip()]
    return errors[-1] if errors else (lines[-1] if lines else "dehydrated failed without output")
