# ruff: noqa: E501 - recorded output lines are kept whole, as dehydrated prints them.
"""What dehydrated's output says (plugins/module_utils/acme_dehydrated.py): outputs recorded from
dehydrated 0.7.0 (Debian 12) against Pebble 2.4.0, and Let's Encrypt's documented problem
documents for what Pebble does not do (rate limits, DNS problems, unauthorized)."""

import pytest
from ansible_collections.mlflow_provision.tracking.plugins.module_utils import (
    acme_dehydrated as acme,
)

NAMES = ["blob.mlflow.test"]

ISSUED = """\
# INFO: Using main config file /etc/dehydrated/config
Processing blob.mlflow.test
 + Signing domains...
 + Generating private key...
 + Requesting new certificate order from CA...
 + Challenge is valid!
 + Requesting certificate...
 + Checking certificate...
 + Done!
 + Creating fullchain.pem...
 + Done!
"""

SKIPPED = """\
Processing blob.mlflow.test
 + Checking domain name(s) of existing cert... unchanged.
 + Checking expire date of existing cert...
 + Valid till Feb 22 17:58:52 2027 GMT (Longer than 30 days). Skipping renew!
"""

REGISTERED = """\
+ Generating account key...
+ Registering account key with ACME server...
+ Fetching account URL...
+ Done!
"""


def _challenge(detail, kind="connection"):
    """How dehydrated prints a challenge the CA could not validate (JSON.sh lines)."""
    quoted = detail.replace('"', '\\"')
    return (
        " + Responding to challenge for x authorization...\n"
        'ERROR: Challenge is invalid! (returned: invalid) (result: ["type"]\t"http-01"\n'
        '["status"]\t"invalid"\n'
        f'["error","type"]\t"urn:ietf:params:acme:error:{kind}"\n'
        f'["error","detail"]\t"{quoted}"\n'
        '["error","status"]\t400\n'
        f'["error"]\t{{"type":"urn:ietf:params:acme:error:{kind}"}})\n'
    )


def _refused(kind, detail, status=400, headers=""):
    """How dehydrated prints a request the CA refused (its headers, then the JSON problem)."""
    return (
        f"  + ERROR: An error occurred while sending post-request to https://ca/new-order (Status {status})\n"
        f"\nDetails:\nHTTP/1.1 {status}\n{headers}\n"
        f'{{\n   "type": "urn:ietf:params:acme:error:{kind}",\n   "detail": "{detail}",\n'
        f'   "status": {status}\n}}\n'
    )


def test_issued_and_registered_are_read_from_the_progress_lines():
    assert acme.issued(ISSUED) and not acme.issued(SKIPPED)
    hook = "Installed the certificate for blob.mlflow.test (serial=7B37, expires ...) and reloaded nginx"
    assert acme.installed(SKIPPED + hook) and not acme.installed(SKIPPED)
    assert acme.registered(REGISTERED) and not acme.registered("+ Account already registered!\n")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        # Pebble, a name nothing resolves (recorded).
        (
            _challenge(
                'Get "http://nowhere.mlflow.test:80/.well-known/acme-challenge/XR7s": error occurred'
                ' while resolving URL "http://nowhere.mlflow.test:80/.well-known/acme-challenge/XR7s":'
                ' "lookup nowhere.mlflow.test on 127.0.0.11:53: no such host"'
            ),
            ["the CA could not resolve nowhere.mlflow.test", "DNS record"],
        ),
        # Pebble, port 80 closed (recorded).
        (
            _challenge(
                'Get "http://closed.mlflow.test:80/.well-known/acme-challenge/_-sF": dial tcp'
                " 172.20.0.2:80: connect: connection refused"
            ),
            ["could not connect to closed.mlflow.test on port 80", "refused. Open TCP port 80"],
        ),
        # Let's Encrypt's wording for the same two.
        (
            _challenge(
                "DNS problem: NXDOMAIN looking up A for blob.mlflow.test - check that a DNS record exists",
                kind="dns",
            ),
            ["could not resolve blob.mlflow.test"],
        ),
        (
            _challenge(
                "203.0.113.9: Fetching http://blob.mlflow.test/.well-known/acme-challenge/x:"
                " Timeout during connect (likely firewall problem)"
            ),
            ["could not connect to blob.mlflow.test on port 80"],
        ),
        (
            _challenge(
                "203.0.113.9: Invalid response from http://blob.mlflow.test/.well-known/acme-challenge/x: 404",
                kind="unauthorized",
            ),
            ["reached blob.mlflow.test but not this host's answer"],
        ),
        # Let's Encrypt's rate limit, with its Retry-After header.
        (
            _refused(
                "rateLimited",
                "too many certificates (5) already issued for this exact set of identifiers in the"
                " last 168h0m0s, retry after 2026-11-25 10:00:00 UTC",
                status=429,
                headers="Retry-After: 56000",
            ),
            ["rate limit was reached (the CA says: retry after 56000)", "too many certificates"],
        ),
        # Pebble refusing an IP address as a DNS name (recorded).
        (
            _refused(
                "malformed",
                'Order included a DNS identifier with an IP address value: \\"10.1.2.3\\"\\n',
            ),
            ["refuses to certify blob.mlflow.test", "IP address value"],
        ),
        (
            _refused(
                "externalAccountRequired", "Account creation requires external account binding"
            ),
            ["requires External Account Binding", "nginx_tls_acme_eab_kid"],
        ),
        # The CA down: nothing listens (recorded), its name unknown (recorded), untrusted TLS.
        (
            "ERROR: Problem connecting to server (get for https://mp-pebble:14999/dir; curl returned with 7)\n"
            "EXPECTED value GOT EOF\n",
            [
                "could not be reached at https://mp-pebble:14999/dir",
                "connection was refused",
                "curl exit 7",
            ],
        ),
        (
            "ERROR: Problem connecting to server (get for https://nohost.invalid/dir; curl returned with 6)\n",
            ["name does not resolve from this host"],
        ),
        (
            "ERROR: Problem connecting to server (get for https://ca.internal/dir; curl returned with 60)\n",
            ["does not trust its TLS certificate", "base_extra_ca_certificates"],
        ),
        # A URL that answers, but not with an ACME directory (recorded).
        ("EXPECTED value GOT -\n", ["does not answer with an ACME directory"]),
        (
            "This CA requires an external account but no EAB_KID/EAB_HMAC_KEY has been configured\n",
            ["nginx_tls_acme_eab_hmac_key"],
        ),
        # A CA that answers 503 with no problem document.
        (
            "  + ERROR: An error occurred while sending get-request to https://ca/dir (Status 503)\n\nDetails:\n",
            ["answered HTTP 503 to https://ca/dir"],
        ),
        # Anything else: dehydrated's own last ERROR line.
        ("line\nERROR: Lock file '/var/lib/dehydrated/lock' present, aborting.\n", ["Lock file"]),
        ("", ["without output"]),
    ],
)
def test_failure_cause_names_the_cause_and_the_fix(output, expected):
    cause = acme.failure_cause(output, NAMES)
    for text in expected:
        assert text in cause, cause


def test_problem_prefers_the_challenge_error_to_a_request_error():
    output = _refused("serverInternal", "oops") + _challenge("connection refused")
    assert acme.problem(output) == ("connection", "connection refused")
    assert acme.problem("nothing here") is None
