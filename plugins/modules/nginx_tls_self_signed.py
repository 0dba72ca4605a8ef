#!/usr/bin/python
# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Documentation of the action plugin nginx_tls_self_signed (plugins/action/nginx_tls_self_signed.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_tls_self_signed
short_description: A self-signed key and certificate kept on the controller, made or renewed in-process
description:
  - Keeps C(server.key) (mode 0600, ECDSA P-256) and C(server.crt) (0644) in O(dir) on the
    controller, the directory made 0700 when missing. The key is made once; the certificate is
    signed again with it when there is none, when it cannot be read or is not for the key, when
    its common name (the first of O(names)) or its names (O(names) as DNS, O(ip_sans) as IP
    SANs) differ, or when fewer than 30 days are left. It is valid for O(days) days, CA:FALSE,
    key usage digitalSignature and keyEncipherment, extended key usage serverAuth.
  - With no key in O(dir), a pair the host already has (O(adopt_key), O(adopt_certificate), read
    with M(ansible.builtin.slurp) as the task's user) is adopted, so that its clients keep
    trusting it.
  - Returns the key and certificate (RV(key), RV(certificate)) for a task that installs them;
    put C(no_log) on both tasks. Runs on the controller; it contacts the host only to adopt.
    Check mode writes nothing and says what would change.
  - What four module runs of community.crypto did (key, CSR, certificate info, certificate),
    in the controller's process. The logic is in C(plugins/module_utils/self_signed.py).
options:
  dir: {type: path, required: true, description: The directory on the controller.}
  names: {type: list, elements: str, required: true, description: DNS names; the first is the common name.}
  ip_sans: {type: list, elements: str, default: [], description: IP addresses the certificate names.}
  days: {type: int, default: 365, description: How long a new certificate is valid.}
  adopt_key: {type: path, description: "The host's key to adopt when O(dir) has none."}
  adopt_certificate: {type: path, description: "The host's certificate to adopt with it."}
author:
  - mlflow-provision developers (@mlflow-provision)
"""

EXAMPLES = r"""
- name: Make or renew the certificate on the controller
  mlflow_provision.tracking.nginx_tls_self_signed:
    dir: ~/.config/mlflow-provision/credentials/web1
    names: [mlflow.example.org, web1]
    ip_sans: [10.0.0.4]
  register: pair
  no_log: true
"""

RETURN = r"""
key: {description: The private key (PEM)., type: str, returned: always}
certificate: {description: The certificate (PEM)., type: str, returned: always}
adopted: {description: The host's pair was adopted., type: bool, returned: always}
new_key: {description: A key was made., type: bool, returned: always}
signed: {description: The certificate was signed (again)., type: bool, returned: always}
reasons: {description: Why it was signed again., type: list, elements: str, returned: always}
"""
