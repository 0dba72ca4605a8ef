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
    server = FakeArm(tmp_path_factory.mktemp("arm"), polls=1, poll_seconds=0.2).start()
    yield server
    server.stop()


def _run(run_playbook, fake, overrides, check=False, out=None):
    # Not /dev/null: ansible.builtin.copy writes a temporary file and renames it onto its dest,
    # which replaced the machine's /dev/null with a regular 0600 file (tools that read
    # /dev/null as an empty config, such as ansible-test's pep8, then failed).
    out = out or str(fake.directory / "unread-HOST.json")
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


def test_load_balanced_vms_and_the_database_reach_the_host_roles(run_playbook, fake, tmp_path):
    password = "Correct-Horse-Battery-9"
    run = _run(
        run_playbook,
        fake,
        {
            "azure_vm_resource_group": "rg-role-lb",
            "azure_vm_dns_label": "mlflow-role-lb",
            "azure_vm_layout": "load_balanced",
            "azure_vm_count": 2,
            "azure_vm_storage_account": "mlflowrolelb",
            "azure_vm_postgres_server": "mlflow-role-lb-pg",
            "azure_vm_postgres_admin_password": password,
        },
        out=str(tmp_path / "HOST.json"),
    )
    assert run.rc == 0, run
    assert password not in run.output
    hosts = [json.loads((tmp_path / f"mlflow-{i}.json").read_text()) for i in (1, 2)]
    lb_ip = hosts[0]["outputs"]["public_ip"]
    # Each VM through its own inbound NAT rule on the balancer's address.
    assert [(h["ansible_host"], int(h["ansible_port"])) for h in hosts] == [
        (lb_ip, 50001),
        (lb_ip, 50002),
    ]
    assert all(h["groups"] == ["mlflow_servers"] for h in hosts)
    wiring = hosts[1]["wiring"]
    fqdn = "mlflow-role-lb.westeurope.cloudapp.azure.com"
    assert wiring["mlflow_server_backend"] == "postgresql"
    assert wiring["mlflow_server_db_host"] == "mlflow-role-lb-pg.postgres.database.azure.com"
    assert wiring["mlflow_server_db_max_connections"] == 35
    assert wiring["mlflow_server_azure_client_id"] == hosts[0]["outputs"]["identity_client_id"]
    assert wiring["mlflow_server_artifact_store"] == "azure_blob"
    assert wiring["nginx_tls_acme_issuer_host"] == "mlflow-1"
    assert wiring["nginx_tls_acme_issuer_address"] == hosts[0]["outputs"]["private_ip"]
    assert wiring["nginx_tls_client_urls"] == [f"https://{fqdn}/health"]
    assert hosts[0]["server_names"] == [fqdn] and hosts[0]["certificate_mode"] == "acme"
