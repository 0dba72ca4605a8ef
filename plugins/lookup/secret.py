# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
from __future__ import annotations

DOCUMENTATION = r"""
name: secret
author:
  - mlflow-provision developers (@mlflow-provision)
short_description: A generated secret from the deployment's store, made once, never rotated
description:
  - Returns the value the store (C(mlflow_provision_secrets_store)) keeps for this host's
    secret C(<scope>/<name>). When it has none, makes one and stores it, but only when the
    deploy has read the host (playbooks/secrets.yml) and the host does not already use such a
    secret; otherwise it fails naming the secret, where the store looks for it, and how to
    rotate it on purpose (C(mlflow_provision_rotate)).
  - "Stores: C(local) (0600 files on this machine, the default), C(vault) (an ansible-vault
    encrypted file beside the inventory), C(azure_keyvault) (Azure Key Vault).
    README: Deploying as a team."
  - During input checks (playbooks/validate.yml) a missing secret gets a stand-in, never stored.
options:
  _terms:
    description: The secret's name, e.g. C(mysql-mlflow.password).
    required: true
  length:
    description: Characters of a generated value.
    type: int
    default: 32
  chars:
    description: Character sets (C(ascii_letters), C(digits), C(punctuation)) or characters.
    type: list
    elements: str
    default: [ascii_letters, digits]
  dir:
    description: Store C(local) only, this secret's directory instead of C(<secrets dir>/<scope>).
    type: str
  in_use:
    description: Whether the host already uses this secret (the caller read it).
    type: bool
"""

EXAMPLES = r"""
mysql_mlflow_password: >-
  {{ lookup('mlflow_provision.tracking.secret', 'mysql-mlflow.password', length=32,
            chars=['ascii_letters', 'digits', 'punctuation']) }}
"""

RETURN = r"""
_raw:
  description: The secret's value (one element).
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_policy import (  # noqa: E402
    SecretRefused,
    resolve,
)
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_settings import (  # noqa: E402
    Session,
    flag,
    request_for,
    store_for,
)
from ansible_collections.mlflow_provision.tracking.plugins.plugin_utils.secret_store import (  # noqa: E402
    StoreError,
)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        values = []
        session = Session.current
        for name in terms:
            try:
                store = store_for(self._templar, self._loader, variables)
                req = request_for(
                    self._templar,
                    variables,
                    store,
                    str(name),
                    dir=self.get_option("dir"),
                    in_use=self.get_option("in_use"),
                    length=self.get_option("length"),
                    chars=self.get_option("chars"),
                )
                if session and session.list_only:
                    value, state = session.report_only(store, req)
                else:
                    value, state = resolve(
                        store,
                        req,
                        check_mode=(session and session.dry)
                        or flag(self._templar, variables, "ansible_check_mode"),
                        preview=flag(self._templar, variables, "mlflow_provision_secrets_preview"),
                        rotate_run=session.rotation(req) if session else None,
                    )
            except (SecretRefused, StoreError) as err:
                if session:
                    session.problems.append(str(err))
                raise AnsibleLookupError(str(err)) from None
            if session:
                session.seen.append(
                    {
                        "name": req.name,
                        "key": req.key,
                        "where": store.where(req.key),
                        "state": state,
                    }
                )
            values.append(value)
        return values
