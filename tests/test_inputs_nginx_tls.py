"""Role nginx_tls's input rules: each bad value is named, with what is allowed (through the
preflight of every role, as playbooks/validate.yml runs it)."""

import pytest
from inputs_support import (
    ACME,
    AUTH,
    MISSING,
    NOT_PEM,
    VALID,
    preflight,
)

# (overrides, what one of the problems must say)
INVALID = [
    (
        {"nginx_tls_lb_health_path": "/health"},
        "nginx_tls_lb_health_path: '/health' is not allowed: an absolute path",
    ),
    (
        {"nginx_tls_lb_health_path": "lb health"},
        "nginx_tls_lb_health_path: 'lb health' is not allowed",
    ),
    ({"nginx_tls_lb_probe_interval": 0}, "nginx_tls_lb_probe_interval: 0 is outside 1-300"),
    ({"nginx_tls_lb_probe_threshold": 101}, "nginx_tls_lb_probe_threshold: 101 is outside 1-100"),
    ({"nginx_tls_upstream_ports": []}, "nginx_tls_upstream_ports: must list at least one port"),
    (
        {"nginx_tls_upstream_ports": [5001, 5001]},
        "nginx_tls_upstream_ports: 5001 is listed more than once",
    ),
    (
        {"nginx_tls_upstream_ports": [80]},
        "nginx_tls_upstream_ports: 80 clashes with a port nginx listens on",
    ),
    (
        {"nginx_tls_certificate_mode": "letsencrypt"},
        "nginx_tls_certificate_mode must be one of: self_signed, provided, acme",
    ),
    (
        {**ACME, "nginx_tls_acme_email": ""},
        "nginx_tls_acme_email: required with nginx_tls_certificate_mode acme",
    ),
    (
        {**ACME, "nginx_tls_acme_email": "ops"},
        'nginx_tls_acme_email: "ops" is not allowed; an e-mail address',
    ),
    (
        {**ACME, "nginx_tls_server_names": []},
        "nginx_tls_server_names: must list the DNS names of the certificate",
    ),
    (
        {**ACME, "nginx_tls_server_names": ["mlflow.example.com", "203.0.113.7"]},
        "nginx_tls_server_names[1]: 203.0.113.7 is an IP address; an ACME certificate",
    ),
    (
        {**ACME, "nginx_tls_server_names": ["*.example.com"]},
        "nginx_tls_server_names[0]: *.example.com is a wildcard",
    ),
    (
        {**ACME, "nginx_tls_acme_directory_url": "http://ca.internal/directory"},
        'nginx_tls_acme_directory_url: "http://ca.internal/directory" is not an https:// URL',
    ),
    (
        {
            **ACME,
            "nginx_tls_acme_staging": True,
            "nginx_tls_acme_directory_url": "https://ca.internal/dir",
        },
        "nginx_tls_acme_staging: switches Let's Encrypt's directory",
    ),
    ({**ACME, "nginx_tls_acme_eab_kid": "kid-1"}, "nginx_tls_acme_eab_hmac_key: required too"),
    ({**ACME, "nginx_tls_acme_eab_hmac_key": "a" * 40}, "nginx_tls_acme_eab_kid: required too"),
    (
        {**ACME, "nginx_tls_acme_eab_kid": "kid-1", "nginx_tls_acme_eab_hmac_key": "not base64!"},
        "nginx_tls_acme_eab_hmac_key: the value is not allowed; the CA's HMAC key",
    ),
    ({**ACME, "nginx_tls_acme_renew_days": 0}, "nginx_tls_acme_renew_days: 0 is outside 1-180"),
    (
        {**ACME, "nginx_tls_acme_issuer_host": "mlflow-1", "nginx_tls_acme_issuer_address": "a b"},
        'nginx_tls_acme_issuer_address: "a b" is not a DNS name or an IP address',
    ),
    (
        {**ACME, "nginx_tls_acme_issuer_address": "10.0.0.4"},
        "nginx_tls_acme_issuer_address: is set, but nginx_tls_acme_issuer_host is empty",
    ),
    (
        {**ACME, "nginx_tls_acme_key_type": "ed25519"},
        "nginx_tls_acme_key_type must be one of: ecdsa-p256",
    ),
    (
        {**ACME, "nginx_tls_http_port": 8080},
        "nginx_tls_http_port: 8080: must be 80 with nginx_tls_certificate_mode acme",
    ),
    (
        {"nginx_tls_certificate_mode": "provided"},
        "nginx_tls_certificate: required with nginx_tls_certificate_mode provided",
    ),
    (
        {
            "nginx_tls_certificate_mode": "provided",
            "nginx_tls_certificate": MISSING,
            "nginx_tls_private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
        },
        f"nginx_tls_certificate: {MISSING} is not a file on the controller",
    ),
    (
        {
            "nginx_tls_certificate_mode": "provided",
            "nginx_tls_certificate": NOT_PEM,
            "nginx_tls_private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
        },
        "holds no PEM CERTIFICATE",
    ),
    (
        {"nginx_tls_basic_auth_users": [{"name": "ann"}, {"name": "ann"}]},
        "nginx_tls_basic_auth_users[1].name: ann is listed twice",
    ),
    (
        {"nginx_tls_basic_auth_users": [{"name": "a:b"}]},
        'nginx_tls_basic_auth_users[0].name: "a:b" is not allowed',
    ),
    ({"nginx_tls_basic_auth_users": []}, "nginx_tls_basic_auth_users: must list at least one user"),
    (
        {"nginx_tls_client_max_body_size": "lots"},
        'nginx_tls_client_max_body_size: "lots" is not an nginx size',
    ),
    ({"nginx_tls_protocols": ["TLSv1.1"]}, "nginx_tls_protocols"),
    ({"nginx_tls_http_port": 443}, "nginx_tls_http_port: 443 is also nginx_tls_https_port"),
    ({"nginx_tls_ip_sans": ["not-an-ip"]}, "nginx_tls_ip_sans[0]: not-an-ip is not an IP address"),
    (
        {**AUTH, "nginx_tls_auth": "basic"},
        "nginx_tls_auth: basic cannot be combined with mlflow_server_auth_enabled",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), INVALID, ids=[e for _, e in INVALID])
def test_bad_input_is_named(overrides, expected):
    found = preflight({**VALID, **overrides})
    assert any(expected in text for text in found), found
