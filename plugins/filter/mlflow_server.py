# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Filters of role mlflow_server: the database URI and the Host headers MLflow accepts."""

from __future__ import annotations

import ipaddress
from urllib.parse import quote, urlencode

SCHEMES = {"mysql": "mysql+pymysql", "postgresql": "postgresql+psycopg2"}
LOOPBACK_HOSTS = ["localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[[]::1]:*"]


def _part(value) -> str:
    # Nothing is safe, "/" included: the parts sit between the URI's own separators.
    return quote(str(value), safe="")


def mlflow_db_uri(backend, user, password, host, port, database, query=None):
    """The SQLAlchemy URI of a database backend, mysql+pymysql://user:pass@host:port/db?query
    (or postgresql+psycopg2://...). User, password and database are URL-encoded whole, so they may
    hold any printable character (`@:/%#?&[]=`, quotes, spaces); an IPv6 host goes in brackets;
    `query` (a mapping, in its order) becomes the query string."""
    try:
        ipaddress.IPv6Address(str(host))
        host = f"[{host}]"
    except ValueError:
        pass
    uri = f"{SCHEMES[backend]}://{_part(user)}:{_part(password)}@{host}:{port}/{_part(database)}"
    return f"{uri}?{urlencode(list((query or {}).items()))}"


def mlflow_allowed_hosts(names, ports, extra=()):
    """MLflow's --allowed-hosts: loopback, then each name alone and with each port, then extra."""
    hosts = list(LOOPBACK_HOSTS)
    for name in names:
        hosts.append(name)
        hosts += [f"{name}:{port}" for port in dict.fromkeys(ports)]
    return list(dict.fromkeys(hosts + list(extra)))


class FilterModule:
    def filters(self):
        return {"mlflow_db_uri": mlflow_db_uri, "mlflow_allowed_hosts": mlflow_allowed_hosts}
