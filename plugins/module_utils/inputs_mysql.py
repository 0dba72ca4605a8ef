# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Role mysql: the local MariaDB's settings, database and user.

Rules in the form of plugins/module_utils/role_inputs.py (which lists them in ``CHECKS``): ``v``
holds the variables after the argument spec's type checks, ``read(path)`` a controller file's
text or None; the result is a list of messages, each starting with its variable.
"""

from __future__ import annotations

try:  # Loaded by Ansible as collection content, or by the tests from .cache/collections.
    from ansible_collections.mlflow_provision.tracking.plugins.module_utils import input_rules as r
except ImportError:  # pragma: no cover - ansible-test sanity imports it by this path too
    from . import input_rules as r  # type: ignore[no-redef]


def check_mysql(v, read):
    p = r.Problems()
    pw = v["mysql_mlflow_password"]
    if not pw:
        p.add(
            "mysql_mlflow_password",
            "required, must not be empty (any printable characters are allowed)",
        )
    else:
        p.check("mysql_mlflow_password", pw, r.printable, secret=True)
    p.check(
        "mysql_mlflow_database",
        v["mysql_mlflow_database"],
        r.matches,
        r"[A-Za-z0-9_]{1,64}",
        "use 1-64 letters, digits or underscores",
    )
    p.check(
        "mysql_mlflow_user",
        v["mysql_mlflow_user"],
        r.matches,
        r"[A-Za-z0-9_.-]{1,80}",
        'use 1-80 letters, digits, "_", "." or "-"',
    )
    p.each(
        "mysql_mlflow_user_hosts",
        v["mysql_mlflow_user_hosts"],
        r.matches,
        r"[A-Za-z0-9.%_:-]{1,255}(/[0-9.]+)?",
        "use a host name, an address, a pattern with % or _ (e.g. 10.0.%), or address/netmask",
    )
    p.check("mysql_bind_address", v["mysql_bind_address"], r.ip_address, " (e.g. 127.0.0.1)")
    p.check("mysql_port", v["mysql_port"], r.tcp_port)
    ratio = v["mysql_innodb_buffer_pool_ratio"]
    if not 0 < ratio <= 0.8:
        p.add("mysql_innodb_buffer_pool_ratio", f"{ratio} is outside (0, 0.8]")
    if v["mysql_innodb_buffer_pool_min_mb"] < 8:
        p.add(
            "mysql_innodb_buffer_pool_min_mb", f"{v['mysql_innodb_buffer_pool_min_mb']} is below 8"
        )
    p.check("mysql_max_connections", v["mysql_max_connections"], r.in_range, 10, 10000)
    for key, value in (v["mysql_server_settings_extra"] or {}).items():
        name = f"mysql_server_settings_extra.{key}"
        if p.check(
            name,
            key,
            r.matches,
            r"[a-z][a-z0-9_-]{0,63}",
            "a server option name (e.g. wait_timeout)",
        ):
            p.check(name, value, r.printable)
    return p.items
