"""The scenario's hosts and its clients' trust anchor: Pebble's root, which certifies the
cluster's name (it is made anew each time Pebble starts, so it is read from Pebble's management
endpoint, as its README says)."""

import os
from pathlib import Path

import pytest
import testinfra
from mp_https import Endpoint, container_address, fetch_pebble_root

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
NAME = "mlflow.cluster.test"
HOSTS = ("mp-pgmlflow", "mp-pgmlflow2")
# Where the clients on the MLflow hosts find Pebble's root.
ROOT_ON_HOST = "/root/pebble-root.pem"


def test_host(name):
    """A test host as root (mp-pgmlflow2 is reached over SSH as azureuser: through sudo)."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}&sudo=true")


test_host.__test__ = False  # a helper, not a test


@pytest.fixture(scope="session")
def hosts():
    return {name: test_host(name) for name in HOSTS}


@pytest.fixture(scope="session")
def balancer_host():
    return test_host("mp-pg")


@pytest.fixture(scope="session")
def pebble_root():
    """Pebble's root (PEM) in a file on the controller, also copied to both MLflow hosts."""
    return fetch_pebble_root(
        "mp-pg", EPHEMERAL / "tls" / "ca.pem", EPHEMERAL / "pebble-root.pem", HOSTS, ROOT_ON_HOST
    )


@pytest.fixture(scope="session")
def balancer(pebble_root):
    """HTTPS to the cluster's name through HAProxy, verified against Pebble's root only."""
    return Endpoint(container_address("mp-pg"), NAME, pebble_root)
