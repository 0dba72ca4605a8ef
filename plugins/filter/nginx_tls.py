# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Filters of role nginx_tls: the users a password file holds, and the passwords the role
generates (for the deploy's secret check, plugins/plugin_utils/secret_policy.py)."""

from __future__ import annotations

import base64


def htpasswd_users(content_b64):
    """The user names of a password file, from slurp's base64 content ('' when there was none)."""
    text = base64.b64decode(content_b64 or "").decode(errors="replace")
    return [line.split(":", 1)[0] for line in text.splitlines() if ":" in line]


def nginx_tls_generated_passwords(users, credentials_dir, in_use_names=()):
    """[{name, dir, in_use}] for each user without a password: the secrets the role generates
    (`<user>.password`), and whether the host's password file already has that user."""
    present = set(in_use_names or ())
    return [
        {
            "name": f"{user['name']}.password",
            "dir": credentials_dir,
            "in_use": user["name"] in present,
        }
        for user in users or []
        if not user.get("password")
    ]


class FilterModule:
    def filters(self):
        return {
            "htpasswd_users": htpasswd_users,
            "nginx_tls_generated_passwords": nginx_tls_generated_passwords,
        }
