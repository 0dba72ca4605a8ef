"""Role azure_vm: bad input stops before any request; a run hands the VM to the host roles."""

import json

import pytest
from fake_arm import SUBSCRIPTION, FakeArm
from test_azure_vm import KEY

VALID = {
    "azure_vm_subscription_id": SUBSCRIPTION,
    "azure_vm_resource_group": "rg-role",
    "azure_vm_dns_label": "mlflow-role-test",
    "azure_vm_admin_cidrs": ["198.51.100.0/24"],
    "azure_vm_ssh_public_key": KEY,
}


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    server = FakeArm(tmp_path_factory.mktemp("arm"), polls=1).start()
    yield server
    server.stop()


def _run(run_playbook, fake, overrides, check=False, out="/dev/null"):
    extra = {**VALID, "azure_vm_resource_manager_endpoint": fake.url, "mp_out": out, **overrides}
    env = {**fake.environment(), "AZURE_SUBSCRIPTION_ID": ""}
    return run_playbook("tests/playbooks/azure_vm_role.yml", extra, env=env, check=check)


def test_bad_input_fails_before_any_request(run_playbook, fake):
    # Every rule is unit-tested (test_inputs_azure_vm.py); here: the role stops before Azure.
    before = len(fake.requests)
    run = _run(
        run_playbook,
        fake,
        {"azure_vm_dns_label": "-x", "azure_vm_admin_cidrs": [], "azure_vm_image": "centos"},
    )
    assert run.rc != 0, run
    assert "azure_vm_image must be one of: debian12, ubuntu2404" in run.output, run
    run = _run(run_playbook, fake, {"azure_vm_dns_label": "-x", "azure_vm_admin_cidrs": []})
    assert run.rc != 0, run
    for expected in (
        'azure_vm_dns_label: "-x" breaks the Azure rule',
        "azure_vm_admin_cidrs: required",
    ):
        assert expected in run.output, run
    assert "Traceback" not in run.output, run
    assert len(fake.requests) == before, "a request reached Azure before the input was checked"


def test_open_ssh_needs_the_explicit_opt_in(run_playbook, fake):
    run = _run(
        run_playbook,
        fake,
        {"azure_vm_admin_cidrs": ["0.0.0.0/0"], "azure_vm_allow_ssh_from_anywhere": True},
        check=True,
    )
    assert run.rc == 0, run


def test_run_hands_the_vm_to_the_host_roles(run_playbook, fake, tmp_path):
    run = _run(run_playbook, fake, {}, out=str(tmp_path / "host.json"))
    assert run.rc == 0, run
    host = json.loads((tmp_path / "host.json").read_text())
    fqdn = "mlflow-role-test.westeurope.cloudapp.azure.com"
    assert host["name"] == fqdn and host["ansible_host"] == fqdn
    assert host["ansible_user"] == "azureuser"
    assert host["public_names"] == ["mlflow.example.com", fqdn]
    # nginx: the FQDN first (the certificate's common name), a trusted certificate by default.
    assert host["server_names"] == [fqdn]
    assert host["certificate_mode"] == "acme"
    assert host["outputs"]["public_ip"].startswith("20.50.")
    assert host["outputs"]["vm_id"].endswith("/virtualMachines/mlflow-vm")


def test_destroy_playbook_removes_what_the_role_created(run_playbook, fake):
    extra = {
        **VALID,
        "azure_vm_resource_group": "rg-role-destroy",
        "azure_vm_dns_label": "mlflow-rd",
    }
    assert _run(run_playbook, fake, extra).rc == 0
    before = len(fake.writes())
    env = {**fake.environment(), "AZURE_SUBSCRIPTION_ID": ""}
    extra["azure_vm_resource_manager_endpoint"] = fake.url
    run = run_playbook("playbooks/destroy_azure.yml", extra, env=env, check=False)
    assert run.rc == 0, run
    deleted = [p.split("/")[-2] for m, p in fake.writes()[before:] if m == "DELETE"]
    assert deleted[:2] == ["virtualMachines", "networkInterfaces"]
    assert sorted(deleted[2:]) == ["networkSecurityGroups", "publicIPAddresses", "virtualNetworks"]
    rg = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-role-destroy"
    assert fake.get(rg) is not None
    assert [k for k in fake.resources if k.startswith(rg.lower() + "/")] == []
