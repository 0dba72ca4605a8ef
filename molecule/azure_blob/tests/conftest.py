"""Pebble's root certificate, the trust anchor of the scenario's clients (it is made anew each
time Pebble starts, so it is read from Pebble's management endpoint, as its README says)."""

import os
from pathlib import Path

import pytest
from mp_https import Endpoint, container_address, fetch_pebble_root

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
NAME = "blob.mlflow.test"
AUTH = ("tester", "blob tester p@ss")
# Where the clients on the MLflow host find it.
ROOT_ON_HOST = "/root/pebble-root.pem"


@pytest.fixture(scope="session")
def pebble_root():
    """Pebble's root (PEM) in a file on the controller, also copied to the MLflow host."""
    return fetch_pebble_root(
        "mp-pebble",
        EPHEMERAL / "tls" / "ca.pem",
        EPHEMERAL / "pebble-root.pem",
        ["mp-blob"],
        ROOT_ON_HOST,
    )


@pytest.fixture(scope="session")
def site(pebble_root):
    """HTTPS to the MLflow host under its public name, verified against Pebble's root only."""
    return Endpoint(container_address("mp-blob"), NAME, pebble_root)
