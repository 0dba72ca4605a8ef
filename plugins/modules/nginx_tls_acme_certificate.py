#!/usr/bin/python
"""Issue or renew role nginx_tls's ACME certificate with dehydrated, as its renewal timer does,
and say in one sentence why it failed."""

DOCUMENTATION = r"""
module: nginx_tls_acme_certificate
short_description: Issue or renew the ACME certificate of role nginx_tls with dehydrated.
description:
  - Registers the ACME account when there is none for the configured CA (C(dehydrated --register
    --accept-terms)), then runs C(dehydrated --cron), the command of the renewal timer's service -
    a certificate is requested only when there is none, its names differ from O(names), or fewer
    than O(renew_days) days are left. dehydrated's hook installs a new certificate and reloads nginx,
    and installs a valid one nginx does not serve (after another certificate mode).
  - On failure the message names the cause (a name that does not resolve, port 80 closed, a rate
    limit, a CA that cannot be reached) and says which certificate nginx keeps serving - dehydrated
    installs nothing unless the CA issued.
  - In check mode nothing runs; the module reports a change when a certificate would be requested.
options:
  names: {type: list, elements: str, required: true, description: "The certificate's DNS names, as in dehydrated's domains.txt."}
  renew_days: {type: int, required: true, description: "dehydrated's RENEW_DAYS, for check mode."}
  base_dir: {type: path, default: /var/lib/dehydrated, description: "dehydrated's BASEDIR."}
  served_certificate: {type: path, required: true, description: The certificate nginx serves (the hook's target).}
author:
  - mlflow-provision developers (@mlflow-provision)
"""

EXAMPLES = r"""
- name: Issue or renew the certificate
  mlflow_provision.tracking.nginx_tls_acme_certificate:
    names: [mlflow.example.com]
    renew_days: 30
    served_certificate: /etc/ssl/certs/mlflow-provision.crt
"""

RETURN = r"""
issued: {description: A new certificate was issued and installed., type: bool, returned: success}
installed: {description: "A certificate was put in place for nginx (a new one, or a valid one nginx did not serve).", type: bool, returned: success}
registered: {description: A new account was registered with the CA., type: bool, returned: success}
certificate: {description: "The served certificate: serial, not_after (ISO 8601), issuer.", type: dict, returned: always}
output: {description: "dehydrated's output lines (without its INFO lines).", type: list, elements: str, returned: always}
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mlflow_provision.tracking.plugins.module_utils import (
    acme_dehydrated as acme,
)

try:
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID, NameOID

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_CRYPTOGRAPHY = False


def describe(path):
    """serial, not_after, issuer and DNS names of a PEM certificate file; None if unreadable."""
    try:
        with open(path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError):
        return None
    try:
        names = cert.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME
        ).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    # not_valid_after_utc is cryptography 42+; Debian 12 has 38 (naive, in UTC).
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(
        tzinfo=datetime.UTC
    )
    return {
        "serial": format(cert.serial_number, "X"),
        "not_after": not_after.isoformat(),
        "issuer": issuer[0].value if issuer else cert.issuer.rfc4514_string(),
        "names": sorted(names),
    }


def due(base_dir, names, renew_days):
    """Whether `dehydrated --cron` would request a certificate (check mode)."""
    cert = describe(os.path.join(base_dir, "certs", names[0], "cert.pem"))
    if cert is None or cert["names"] != sorted(set(names)):
        return True
    left = datetime.datetime.fromisoformat(cert["not_after"]) - datetime.datetime.now(datetime.UTC)
    return left < datetime.timedelta(days=renew_days)


def main():
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "required": True},
            "renew_days": {"type": "int", "required": True},
            "base_dir": {"type": "path", "default": "/var/lib/dehydrated"},
            "served_certificate": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg="python3-cryptography is needed on the host")
    params = module.params
    if module.check_mode:
        module.exit_json(
            changed=due(params["base_dir"], params["names"], params["renew_days"]),
            certificate=describe(params["served_certificate"]),
            output=[],
        )

    dehydrated = module.get_bin_path("dehydrated", required=True)
    output, new_account, new_certificate, put_in_place = [], False, False, False
    for argv in ([dehydrated, "--register", "--accept-terms"], [dehydrated, "--cron"]):
        rc, out, err = module.run_command(argv, environ_update={"LC_ALL": "C.UTF-8"})
        text = out + err
        output += [line for line in text.splitlines() if line and not line.startswith("# INFO")]
        if rc != 0:
            served = describe(params["served_certificate"])
            keeps = (
                f"nginx keeps serving its current certificate ({served['issuer']}, until"
                f" {served['not_after']})"
                if served
                else "nginx has no certificate yet"
            )
            module.fail_json(
                msg=f"No ACME certificate for {', '.join(params['names'])}:"
                f" {acme.failure_cause(text, params['names'])}. {keeps}.",
                output=output,
                certificate=served,
            )
        if argv[-1] == "--accept-terms":
            new_account = acme.registered(text)
        else:
            new_certificate, put_in_place = acme.issued(text), acme.installed(text)
    module.exit_json(
        changed=new_account or new_certificate or put_in_place,
        registered=new_account,
        issued=new_certificate,
        installed=put_in_place,
        certificate=describe(params["served_certificate"]),
        output=output,
    )


if __name__ == "__main__":
    main()
