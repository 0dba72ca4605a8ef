"""The wiring between the roles (plugins/module_utils/wiring.py) and where it lives."""

import re

import yaml
from ansible_collections.mlflow_provision.tracking.plugins.module_utils.wiring import (
    INPUTS,
    OUTPUTS,
    cluster_hosts,
    deploy_check_values,
    wire,
)
from conftest import ROOT


def _defaults():
    found = {}
    for role in ("mlflow_server", "nginx_tls"):
        found.update(yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text()))
    return {name: found[name] for name in INPUTS}


def test_defaults_wire_nginx_to_the_two_instances():
    facts = wire(_defaults(), given=set())
    assert facts == {
        "mlflow_provision_local_mysql": False,
        "nginx_tls_upstream_ports": [5001, 5002],
        "mlflow_server_proxy_upstream_config": "/etc/nginx/mlflow-upstream.conf",
        "nginx_tls_auth": "basic",
        "nginx_tls_auth_challenge": True,
        # 443 given by the role, nginx's HTTPS port (the same) and its private port.
        "mlflow_server_public_ports": [443, 5000],
    }


def test_inventory_values_flow_and_win():
    v = {
        **_defaults(),
        "mlflow_server_backend": "mysql",
        "mlflow_server_db_host": "localhost",
        "mlflow_server_port": 6000,
        "mlflow_server_instances": "3",
        "mlflow_server_auth_enabled": "yes",
        "nginx_tls_https_port": 8443,
        "nginx_tls_private_port": 0,
        "nginx_tls_upstream_config": "/etc/nginx/other.conf",
    }
    facts = wire(v, given={"nginx_tls_auth"})
    assert facts["mlflow_provision_local_mysql"] is True
    assert facts["nginx_tls_upstream_ports"] == [6000, 6001, 6002]
    assert facts["mlflow_server_proxy_upstream_config"] == "/etc/nginx/other.conf"
    assert "nginx_tls_auth" not in facts  # the inventory's value stays
    assert facts["mlflow_server_public_ports"] == [443, 8443]
    assert wire({**v, "mlflow_server_auth_enabled": True}, set())["nginx_tls_auth"] == "none"


def test_remote_mysql_does_not_run_role_mysql():
    v = {**_defaults(), "mlflow_server_backend": "mysql", "mlflow_server_db_host": "db.internal"}
    assert wire(v, set())["mlflow_provision_local_mysql"] is False


def test_azure_vm_fqdn_is_added_once_and_acme_chosen_unless_given():
    v = {**_defaults(), "mlflow_server_public_names": ["mlflow.example.com"]}
    outputs = {"fqdn": "vm.westeurope.cloudapp.azure.com"}
    facts = wire(v, set(), outputs)
    assert facts["mlflow_server_public_names"] == ["mlflow.example.com", outputs["fqdn"]]
    assert facts["nginx_tls_server_names"] == [outputs["fqdn"]]
    assert facts["nginx_tls_certificate_mode"] == "acme"
    # Wired twice in one run (upgrade.yml imports the preflight twice): nothing doubles.
    again = wire({**v, **facts}, {"nginx_tls_certificate_mode"}, outputs)
    assert again["mlflow_server_public_names"] == facts["mlflow_server_public_names"]
    assert again["nginx_tls_server_names"] == facts["nginx_tls_server_names"]
    assert "nginx_tls_certificate_mode" not in again


BALANCED_OUTPUTS = {
    "layout": "load_balanced",
    "fqdn": "mlflow-team.westeurope.cloudapp.azure.com",
    "first_private_ip": "10.42.1.4",
    "storage_account": "mlflowteam",
    "storage_container": "mlflow",
    "identity_client_id": "5c07a881-5b65-482e-b62b-c3a7b16aa102",
    "postgres_host": "mlflow-pg.postgres.database.azure.com",
    "postgres_admin_user": "mlflowadmin",
    "postgres_max_connections": "35",
}


def test_azure_database_identity_and_balancer_reach_the_host_roles():
    v = {**_defaults(), "mlflow_server_backend": "mysql"}  # role mlflow_server's own default
    facts = wire(v, set(), BALANCED_OUTPUTS, ["mlflow-1", "mlflow-2"])
    assert facts["mlflow_server_backend"] == "postgresql"
    assert facts["mlflow_server_db_host"] == "mlflow-pg.postgres.database.azure.com"
    assert facts["mlflow_server_db_admin_user"] == "mlflowadmin"
    assert facts["mlflow_server_db_max_connections"] == 35
    # A managed database: role mysql does not run.
    assert facts["mlflow_provision_local_mysql"] is False
    assert facts["mlflow_server_artifact_store"] == "azure_blob"
    assert facts["mlflow_server_azure_storage_account"] == "mlflowteam"
    assert facts["mlflow_server_azure_client_id"] == BALANCED_OUTPUTS["identity_client_id"]
    # The issuer is reached at its private address; the gate asks where clients do.
    assert facts["nginx_tls_acme_issuer_host"] == "mlflow-1"
    assert facts["nginx_tls_acme_issuer_address"] == "10.42.1.4"
    assert facts["nginx_tls_client_urls"] == [f"https://{BALANCED_OUTPUTS['fqdn']}/health"]
    # What the inventory says wins; one VM without a database or identity sets neither.
    kept = wire(v, {"mlflow_server_backend", "mlflow_server_db_host"}, BALANCED_OUTPUTS, ["a"])
    assert "mlflow_server_backend" not in kept and "mlflow_server_db_host" not in kept
    single = wire(v, set(), {"layout": "single", "fqdn": "vm.example.com"}, ["vm.example.com"])
    assert not {"mlflow_server_backend", "mlflow_server_azure_client_id"} & set(single)
    assert "nginx_tls_client_urls" not in single and single["mlflow_provision_local_mysql"]


def test_deploy_check_values_are_typed_and_count_local_mariadb_only():
    v = {
        "mlflow_server_auth_enabled": "false",
        "mlflow_server_host": "127.0.0.1",
        "mlflow_server_port": "5001",
        "nginx_tls_auth": "basic",
        "nginx_tls_https_port": 443,
        "nginx_tls_http_port": "80",
        "mlflow_server_instances": 2,
        "mlflow_server_workers": 1,
        "mysql_max_connections": 100,
        "base_firewall_enabled": "yes",
        "base_firewall_ssh_port": 22,
        "base_firewall_public_tcp_ports": ["80", 443],
        "base_firewall_private_tcp_ports": [5000],
        "nginx_tls_private_port": 5000,
    }
    values = deploy_check_values({**v, "mlflow_provision_local_mysql": False})
    assert values["mlflow_server_port"] == 5001 and values["nginx_tls_http_port"] == 80
    assert values["mlflow_server_auth_enabled"] is False and values["base_firewall_enabled"] is True
    assert values["base_firewall_public_tcp_ports"] == [80, 443]
    assert values["mysql_max_connections"] == 0
    local = deploy_check_values({**v, "mlflow_provision_local_mysql": True})
    assert local["mysql_max_connections"] == 100


def test_playbooks_copy_no_role_default():
    # The wiring reads the roles' own defaults: a `<role var> | default(<literal>)` in a
    # playbook is a copy that drifts (13 of them once did).
    role_var = re.compile(
        r"\b(?:mlflow_server|nginx_tls|mysql|base|azure_vm)_\w+ \| default\((?!omit\))"
    )
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in (ROOT / "playbooks").rglob("*.yml")
        for match in role_var.finditer(path.read_text())
        if not match.group(0).startswith("azure_vm_provision")  # the playbook's switch, no role's
    ]
    assert found == []


def test_the_preflight_hands_on_every_wired_value():
    play = yaml.safe_load((ROOT / "playbooks/validate.yml").read_text())[0]
    handed = next(t for t in play["tasks"] if "ansible.builtin.set_fact" in t)
    assert sorted(handed["ansible.builtin.set_fact"]) == sorted(OUTPUTS)
    v = {**_defaults(), "mlflow_server_public_names": []}
    everything = wire(v, set(), BALANCED_OUTPUTS, ["a", "b"], "/creds/a")
    assert set(everything) == set(OUTPUTS)


def test_the_hosts_of_mlflow_servers_serve_one_mlflow():
    groups = {"mlflow_servers": ["mlflow-1", "mlflow-2"], "all": ["mlflow-1", "mlflow-2", "x"]}
    assert cluster_hosts(groups, "mlflow-2") == ["mlflow-1", "mlflow-2"]
    # A host outside the group (a play of its own) stands alone.
    assert cluster_hosts(groups, "x") == ["x"]
    assert cluster_hosts({}, "x") == ["x"]
    facts = wire(_defaults(), set(), None, ["mlflow-1", "mlflow-2"], "/home/u/creds/mlflow-1")
    assert facts["mlflow_server_cluster_hosts"] == ["mlflow-1", "mlflow-2"]
    # One set of basic-auth passwords for every host: the first host's directory.
    assert facts["nginx_tls_credentials_dir"] == "/home/u/creds/mlflow-1"
    # ... and one self-signed certificate, for the cluster's names only.
    assert facts["nginx_tls_self_signed_host_names"] is False
    # ... and in mode acme the first host asks the CA for all.
    assert facts["nginx_tls_acme_issuer_host"] == "mlflow-1"
    # One host: its own directory, as before; an inventory's choices win.
    alone = wire(_defaults(), set(), None, ["mlflow-1"], None)
    assert alone["mlflow_server_cluster_hosts"] == ["mlflow-1"]
    assert "nginx_tls_credentials_dir" not in alone
    assert "nginx_tls_self_signed_host_names" not in alone
    assert "nginx_tls_acme_issuer_host" not in alone
    given = {
        "mlflow_server_cluster_hosts",
        "nginx_tls_credentials_dir",
        "nginx_tls_self_signed_host_names",
        "nginx_tls_acme_issuer_host",
    }
    assert not given & set(wire(_defaults(), given, None, ["a", "b"], "/c/a"))


def test_sign_in_with_a_provider_never_opens_the_browsers_password_box():
    v = {**_defaults(), "mlflow_server_auth_enabled": True, "mlflow_server_auth_app": "oidc-auth"}
    facts = wire(v, set(), None, None, None)
    assert facts["nginx_tls_auth"] == "none" and facts["nginx_tls_auth_challenge"] is False
    basic = wire({**v, "mlflow_server_auth_app": "provision-auth"}, set(), None, None, None)
    assert basic["nginx_tls_auth_challenge"] is True
    kept = wire(v, {"nginx_tls_auth_challenge"}, None, None, None)
    assert "nginx_tls_auth_challenge" not in kept
