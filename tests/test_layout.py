"""Project layout guarantees: top-level group_vars reach every playbook."""

import uuid

import pytest
from conftest import ROOT


@pytest.mark.parametrize("where", ["playbooks", "."])
def test_top_level_group_vars_apply_to_playbooks_anywhere(run_playbook, where):
    name = f"_probe_{uuid.uuid4().hex[:8]}.yml"
    path = ROOT / where / name
    path.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: 'managed=[{{ ansible_managed }}]'\n"
    )
    try:
        run = run_playbook(f"{where}/{name}", {"ansible_connection": "local"}, check=False)
    finally:
        path.unlink()
    assert run.rc == 0, run
    assert "managed=[Managed by mlflow-provision" in run.output, run


def test_package_and_collection_carry_one_version():
    """The wheel (pyproject.toml, mlflow_provision.__version__) ships the collection (galaxy.yml)
    of the same version."""
    import tomllib

    import yaml

    import mlflow_provision

    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    collection = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert package == collection == mlflow_provision.__version__


def test_what_ships_holds_no_test_infrastructure():
    # playbooks/ goes into the collection tarball and the wheel: the test containers' playbooks
    # (tests/playbooks/) stay out of it.
    for path in (ROOT / "playbooks").rglob("*.yml"):
        text = path.read_text()
        assert "community.docker" not in text, path
        assert "mp_container" not in text and "mp_test_" not in text, path
