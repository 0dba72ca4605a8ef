"""Bad input fails in the deploy playbook's preflight, before any role changes anything."""

import re

INVENTORY = "tests/inventories/controller.yml"
VALID = {
    "base_firewall_admin_cidrs": ["192.0.2.0/24"],
    "mlflow_server_backend": "mysql",
    "mysql_mlflow_password": "p@ss:w/rd%#?&[]= ",
    "mlflow_server_db_password": "p@ss:w/rd%#?&[]= ",
}
AZ = "mlflow_server_azure_"
AZURE = {"mlflow_server_artifact_store": "azure_blob", AZ + "storage_account": "mlflowacct"}
CONN = (
    "DefaultEndpointsProtocol=https;AccountName=mlflowacct;AccountKey=a2V5;"
    "EndpointSuffix=core.windows.net"
)


def _run(run_playbook, overrides):
    run = run_playbook("playbooks/deploy.yml", {**VALID, **overrides}, inventory=INVENTORY)
    assert run.rc != 0, run
    assert "Traceback" not in run.output, run
    # The configuring play never started, and the preflight changed nothing.
    assert "PLAY [Configure MLflow hosts]" not in run.output, run
    assert "Invalid input (nothing was changed)" in run.output, run
    recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+).*failed=(\d+)", run.output)
    assert recap and recap.groups() == ("0", "1"), run
    return run


def test_every_problem_of_every_role_at_once(run_playbook):
    # One bad value per role, a type error and the wiring: all in one message, nothing changed
    # (the rules themselves are unit-tested in test_inputs_<role>.py).
    run = _run(
        run_playbook,
        {
            "base_firewall_ssh_port": 0,
            "mysql_innodb_buffer_pool_ratio": 0.95,
            "mlflow_server_workers": 0,
            "mlflow_server_port": 443,
            "nginx_tls_basic_auth_users": [{"name": "ann"}, {"name": "ann"}],
        },
    )
    for expected in (
        "base_firewall_ssh_port: 0 is not a TCP port (1-65535)",
        "mysql_innodb_buffer_pool_ratio: 0.95 is outside (0, 0.8]",
        "mlflow_server_workers: 0 is outside 1-64",
        "nginx_tls_basic_auth_users[1].name: ann is listed twice",
        # nginx_tls_upstream_ports is wired to mlflow_server_port and up by the playbook.
        "nginx_tls_upstream_ports: 443 clashes with a port nginx listens on",
        "mlflow_server_port: 443 is the port nginx listens on (nginx_tls_https_port)",
    ):
        assert expected in run.output, run


def test_type_errors_come_from_the_argument_spec(run_playbook):
    run = _run(run_playbook, {"mlflow_server_backend": "oracle", "nginx_tls_auth_fail_limit": "x"})
    assert (
        "mlflow_server_backend must be one of: sqlite, mysql, postgresql, got: oracle" in run.output
    )
    assert "nginx_tls_auth_fail_limit" in run.output, run


def test_mlflow_auth_turns_nginx_auth_off_unless_the_inventory_insists(run_playbook):
    auth = {
        "mlflow_server_auth_enabled": True,
        "mlflow_server_auth_admin_password": "adm1n password",
    }
    run = _run(run_playbook, {**auth, "nginx_tls_auth": "basic", "mlflow_server_workers": 0})
    assert "nginx_tls_auth: basic cannot be combined with mlflow_server_auth_enabled" in run.output
    run = _run(run_playbook, {**auth, "mlflow_server_workers": 0})
    assert "nginx_tls_auth" not in run.output.split("TASK [Check the wiring")[-1], run


def test_secrets_are_not_printed_on_failure(run_playbook):
    secret = "S3cr3t-never-printed"
    run = _run(
        run_playbook,
        {
            "mysql_mlflow_password": secret,
            "mlflow_server_db_password": secret,
            "mlflow_server_workers": 0,
        },
    )
    assert secret not in run.output, run


def test_azure_secrets_are_not_printed_on_failure(run_playbook):
    key = "QXp1cmVLZXlOZXZlclByaW50ZWQ="
    run = _run(
        run_playbook,
        {**AZURE, AZ + "account_key": key, AZ + "connection_string": CONN + key},
    )
    assert "two credential kinds" in run.output, run
    assert key not in run.output, run


def test_sqlite_backend_does_not_need_the_mysql_role(run_playbook):
    # Without MySQL the mysql role's input is not checked (its password may stay empty); a bad
    # value elsewhere still fails.
    run = _run(
        run_playbook,
        {
            "mlflow_server_backend": "sqlite",
            "mysql_mlflow_password": "",
            "mlflow_server_db_password": "",
            "mlflow_server_workers": 0,
        },
    )
    assert "mysql_mlflow_password" not in run.output, run
    assert "mlflow_server_workers: 0 is outside 1-64" in run.output, run


def test_throttle_and_password_rules_are_checked_all_at_once(run_playbook):
    short = "short pass 12"  # 13 characters: below the 16 a chosen nginx password needs
    run = _run(
        run_playbook,
        {
            "nginx_tls_auth_fail_limit": 0,
            "nginx_tls_auth_fail_rate": 0,
            "nginx_tls_hsts_max_age": -5,
            "nginx_tls_basic_auth_users": [{"name": "alice", "password": short}],
        },
    )
    for expected in (
        "nginx_tls_auth_fail_limit: 0 is outside 1-1000",
        "nginx_tls_auth_fail_rate: 0 is outside 1-600",
        "nginx_tls_hsts_max_age: -5 is negative",
        "nginx_tls_basic_auth_users[0].password: 13 characters; a password you choose needs"
        " at least 16 (nginx_tls_basic_auth_min_password_length)",
    ):
        assert expected in run.output, run
    assert short not in run.output, run


def test_minimum_password_length_cannot_go_below_12(run_playbook):
    run = _run(run_playbook, {"nginx_tls_basic_auth_min_password_length": 8})
    assert "nginx_tls_basic_auth_min_password_length: 8 is below 12" in run.output, run
