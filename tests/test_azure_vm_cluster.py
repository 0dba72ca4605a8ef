"""Role azure_vm's load-balanced layout and managed PostgreSQL against the fake ARM, with the
real Azure SDK: the shapes ARM gets, what the host roles get, a second run that writes nothing,
check mode, destroy in dependency order (data kept unless asked), and the wall time against the
graph's critical path."""

import pytest
from ansible_collections.mlflow_provision.tracking.plugins.module_utils import azure_vm_plan
from conftest import stack_runner
from fake_arm import SUBSCRIPTION, FakeArm
from test_azure_vm import args

PASSWORD = "Correct-Horse-Battery-9"


def cluster(rg, **overrides):
    given = {
        "layout": "load_balanced",
        "vm_count": 3,
        "postgres_server": f"pg-{rg}",
        "postgres_admin_password": PASSWORD,
        **overrides,
    }
    return args(rg, **given)


def rid(rg, provider, kind, name):
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/{provider}/{kind}/{name}"


def net(fake, kind, name, rg="rg-lb"):
    return fake.get(rid(rg, "Microsoft.Network", kind, name))


@pytest.fixture(scope="module")
def created(fake, stack):
    result, writes = stack(cluster("rg-lb"))
    assert result.get("failed") is not True, result.get("msg", result)
    return result, writes


def test_balancer_probe_rules_and_ssh_nat(fake, created):
    lb = net(fake, "loadBalancers", "mlflow-lb")
    assert lb["sku"]["name"] == "Standard"
    props = lb["properties"]
    frontend = props["frontendIPConfigurations"][0]["properties"]["publicIPAddress"]["id"]
    assert frontend.endswith("/publicIPAddresses/mlflow-ip")
    probe = props["probes"][0]["properties"]
    assert (probe["protocol"], probe["port"], probe["requestPath"]) == ("Https", 443, "/lb-health")
    rules = {r["name"]: r["properties"] for r in props["loadBalancingRules"]}
    assert {(r["frontendPort"], r["backendPort"]) for r in rules.values()} == {(443, 443), (80, 80)}
    assert all(
        r["disableOutboundSnat"] and r["probe"]["id"].endswith("/probes/lb-health")
        for r in rules.values()
    )
    nat = {r["name"]: r["properties"] for r in props["inboundNatRules"]}
    assert {k: (v["frontendPort"], v["backendPort"]) for k, v in nat.items()} == {
        "ssh-1": (50001, 22),
        "ssh-2": (50002, 22),
        "ssh-3": (50003, 22),
    }
    ip = net(fake, "publicIPAddresses", "mlflow-ip")
    assert ip["zones"] == ["1", "2", "3"] and ip["sku"]["name"] == "Standard"
    assert ip["properties"]["dnsSettings"]["domainNameLabel"] == "mlflow-rg-lb"


def test_vms_spread_over_zones_without_public_ips_behind_a_nat_gateway(fake, created):
    vnet = net(fake, "virtualNetworks", "mlflow-vnet")
    subnets = {s["name"]: s["properties"] for s in vnet["properties"]["subnets"]}
    nat_id = subnets["mlflow-subnet"]["natGateway"]["id"]
    assert nat_id.endswith("/natGateways/mlflow-natgw")
    natgw = net(fake, "natGateways", "mlflow-natgw")
    assert natgw["properties"]["publicIpAddresses"][0]["id"].endswith("/mlflow-nat-ip")
    public = [
        k
        for k, r in fake.resources.items()
        if k.startswith(f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rg-lb/")
        and r.get("type") == "Microsoft.Network/publicIPAddresses"
    ]
    assert sorted(k.rsplit("/", 1)[1] for k in public) == ["mlflow-ip", "mlflow-nat-ip"]
    zones = []
    for i in (1, 2, 3):
        nic = net(fake, "networkInterfaces", f"mlflow-{i}-nic")["properties"]["ipConfigurations"][
            0
        ]["properties"]
        assert "publicIPAddress" not in nic
        assert nic["loadBalancerBackendAddressPools"][0]["id"].endswith("/backendAddressPools/vms")
        assert nic["loadBalancerInboundNatRules"][0]["id"].endswith(f"/inboundNatRules/ssh-{i}")
        vm = fake.get(rid("rg-lb", "Microsoft.Compute", "virtualMachines", f"mlflow-{i}-vm"))
        zones += vm["zones"]
        assert vm["identity"]["type"] == "UserAssigned"
        assert next(iter(vm["identity"]["userAssignedIdentities"])).endswith(
            "/userAssignedIdentities/mlflow-identity"
        )
    assert zones == ["1", "2", "3"]


def test_identity_gets_blob_data_contributor_on_the_account(fake, created):
    identity = fake.get(
        rid("rg-lb", "Microsoft.ManagedIdentity", "userAssignedIdentities", "mlflow-identity")
    )
    assignments = [
        r
        for r in fake.resources.values()
        if r.get("type") == "Microsoft.Authorization/roleAssignments" and "/rg-lb/" in r["id"]
    ]
    assert len(assignments) == 1
    props = assignments[0]["properties"]
    assert props["roleDefinitionId"].endswith(
        "/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    )
    assert props["principalId"] == identity["properties"]["principalId"]
    assert props["principalType"] == "ServicePrincipal"
    assert props["scope"].endswith("/storageAccounts/mlflowrglb")


def test_postgres_private_access_only(fake, created):
    pg = fake.get(rid("rg-lb", "Microsoft.DBforPostgreSQL", "flexibleServers", "pg-rg-lb"))
    network = pg["properties"]["network"]
    assert network["publicNetworkAccess"] == "Disabled"
    assert network["delegatedSubnetResourceId"].endswith(
        "/virtualNetworks/mlflow-vnet/subnets/mlflow-postgres-subnet"
    )
    assert network["privateDnsZoneArmResourceId"].endswith(
        "/privateDnsZones/pg-rg-lb.private.postgres.database.azure.com"
    )
    assert pg["sku"] == {"name": "Standard_B1ms", "tier": "Burstable"}
    assert pg["properties"]["backup"]["backupRetentionDays"] == 7
    assert "administratorLoginPassword" not in pg["properties"]
    link = net(
        fake,
        "privateDnsZones",
        "pg-rg-lb.private.postgres.database.azure.com/virtualNetworkLinks/mlflow-vnet-link",
    )
    assert link["properties"]["virtualNetwork"]["id"].endswith("/virtualNetworks/mlflow-vnet")
    vnet = net(fake, "virtualNetworks", "mlflow-vnet")
    delegated = next(
        s for s in vnet["properties"]["subnets"] if s["name"] == "mlflow-postgres-subnet"
    )
    assert (
        delegated["properties"]["delegations"][0]["properties"]["serviceName"]
        == "Microsoft.DBforPostgreSQL/flexibleServers"
    )


def test_outputs_for_the_host_roles(fake, created):
    result = created[0]
    identity = fake.get(
        rid("rg-lb", "Microsoft.ManagedIdentity", "userAssignedIdentities", "mlflow-identity")
    )
    assert result["layout"] == "load_balanced"
    assert result["fqdn"] == "mlflow-rg-lb.westeurope.cloudapp.azure.com"
    assert [(h["name"], h["ssh_port"], h["zone"]) for h in result["hosts"]] == [
        ("mlflow-1", 50001, "1"),
        ("mlflow-2", 50002, "2"),
        ("mlflow-3", 50003, "3"),
    ]
    assert {h["ssh_host"] for h in result["hosts"]} == {result["public_ip"]}
    assert sorted(h["private_ip"] for h in result["hosts"]) == [
        "10.42.1.4",
        "10.42.1.5",
        "10.42.1.6",
    ]
    assert result["identity_client_id"] == identity["properties"]["clientId"]
    assert result["postgres_host"] == "pg-rg-lb.postgres.database.azure.com"
    # Standard_B1ms: max_connections 50, of which Azure keeps 15.
    assert result["postgres_max_connections"] == 35
    assert PASSWORD not in str(result)


def test_independent_resources_start_together_wall_time_near_the_critical_path(
    tmp_path_factory,
):
    # Its own fake, whose long-running operations take 1 s each.
    slow = FakeArm(tmp_path_factory.mktemp("slow-arm"), latency=1.0, poll_seconds=0.25).start()
    try:
        result, _ = stack_runner(slow, tmp_path_factory)(cluster("rg-lb-time"))
        assert result.get("failed") is not True, result.get("msg")
        timeline = slow.timeline
    finally:
        slow.stop()
    p = result["invocation"]["module_args"]
    resources = azure_vm_plan.plan(p, SUBSCRIPTION)
    seconds = {}
    for r in resources:
        tail = "/" + r.name.split("|")[-1].split("/")[-1].lower()
        times = [t for t, _, path in timeline if path.lower().endswith(tail)]
        seconds[r.key] = max(times) - min(times) if times else 0.0
    wall = timeline[-1][0] - timeline[0][0]
    critical = azure_vm_plan.critical_path(resources, seconds)
    assert critical > 5  # five long-running operations in a row, 1 s each at least
    assert wall <= 1.2 * critical, (wall, critical, seconds)


def test_second_run_writes_nothing(stack, created):
    result, writes = stack(cluster("rg-lb"))
    assert writes == [] and result["changed"] is False, result["actions"]


def test_check_mode_writes_nothing_and_names_every_resource(stack):
    result, writes = stack(cluster("rg-lb-check"), check=True, diff=True)
    assert writes == []
    assert (
        len(result["actions"])
        == len(azure_vm_plan.plan(result["invocation"]["module_args"], SUBSCRIPTION)) - 1
    )
    assert "create load balancer mlflow-lb" in result["actions"]
    assert "create PostgreSQL flexible server pg-rg-lb-check" in result["actions"]
    assert PASSWORD not in str(result["diff"])


def test_destroy_keeps_the_data_then_removes_it_when_asked(fake, stack):
    rg = "rg-lb-destroy"
    assert stack(cluster(rg, vm_count=2))[0].get("failed") is not True
    result, writes = stack(cluster(rg, vm_count=2, state="absent"))
    assert result.get("failed") is not True, result.get("msg")
    assert {m for m, _ in writes} == {"DELETE"}
    assert sum("/roleAssignments/" in p for _, p in writes) == 1
    deleted = [p.rsplit("/", 1)[1] for _, p in writes if "/roleAssignments/" not in p]
    # The VMs first (together), their NICs, then what the NICs referenced.
    assert sorted(deleted[:2]) == ["mlflow-1-vm", "mlflow-2-vm"]
    assert sorted(deleted[2:5]) == ["mlflow-1-nic", "mlflow-2-nic", "mlflow-identity"]
    assert deleted.index("mlflow-lb") < deleted.index("mlflow-ip")
    assert set(deleted) == {
        "mlflow-1-vm",
        "mlflow-2-vm",
        "mlflow-1-nic",
        "mlflow-2-nic",
        "mlflow-lb",
        "mlflow-ip",
        "mlflow-nsg",
        "mlflow-identity",
    }
    # Kept: the database, the account, and the network the database lives in.
    for provider, kind, name in [
        ("Microsoft.DBforPostgreSQL", "flexibleServers", f"pg-{rg}"),
        ("Microsoft.Storage", "storageAccounts", "mlflowrglbdestroy"),
        ("Microsoft.Network", "virtualNetworks", "mlflow-vnet"),
        ("Microsoft.Network", "natGateways", "mlflow-natgw"),
    ]:
        assert fake.get(rid(rg, provider, kind, name)) is not None, name
    result, writes = stack(cluster(rg, vm_count=2, state="absent", destroy_data=True))
    assert result.get("failed") is not True, result.get("msg")
    deleted = [p.rsplit("/", 1)[1] for _, p in writes]
    assert result["actions"] and deleted, result
    assert (
        deleted.index(f"pg-{rg}")
        < deleted.index("mlflow-vnet")
        < deleted.index("mlflow-natgw")
        < deleted.index("mlflow-nat-ip")
    )
    assert "mlflowrglbdestroy" in deleted
    left = [
        k
        for k in fake.resources
        if k.startswith(f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{rg}/".lower())
    ]
    assert left == []
    assert stack(cluster(rg, vm_count=2, state="absent", destroy_data=True))[1] == []


@pytest.mark.parametrize(
    ("overrides", "setup", "expected"),
    [
        ({}, "taken", "azure_vm_postgres_server 'pg-rg-lb-errors' is taken"),
        ({"postgres_admin_password": "simple"}, None, "azure_vm_postgres_admin_password"),
    ],
    ids=["server-name-taken", "password"],
)
def test_postgres_errors_are_named(fake, stack, overrides, setup, expected):
    if setup == "taken":
        fake.taken_pg_names = {"pg-rg-lb-errors"}
    try:
        result, _ = stack(cluster("rg-lb-errors", storage_account="", vm_count=1, **overrides))
    finally:
        fake.taken_pg_names = set()
    assert result.get("failed") is True
    assert result["msg"].startswith("Azure: " + expected), result["msg"]


def test_single_vm_on_a_managed_postgres(fake, stack):
    # The single layout of before, plus the database: no balancer, the VM keeps its public IP.
    result, _ = stack(
        args(
            "rg-single-pg",
            storage_account="",
            postgres_server="pg-rg-single",
            postgres_admin_password=PASSWORD,
        )
    )
    assert result.get("failed") is not True, result.get("msg")
    assert result["layout"] == "single" and result["postgres_host"].startswith("pg-rg-single.")
    assert [h["ssh_port"] for h in result["hosts"]] == [22]
    assert net(fake, "loadBalancers", "mlflow-lb", rg="rg-single-pg") is None
    nic = net(fake, "networkInterfaces", "mlflow-nic", rg="rg-single-pg")
    assert "publicIPAddress" in nic["properties"]["ipConfigurations"][0]["properties"]


def test_a_lower_count_removes_the_surplus_vm_before_the_balancer_changes(fake, stack):
    rg = "rg-lb-scale"
    first = stack(cluster(rg, vm_count=3, postgres_server=""))[0]
    assert first.get("failed") is not True, first.get("msg")
    result, writes = stack(cluster(rg, vm_count=2, postgres_server=""), check=True)
    assert writes == [] and result["actions"] == [
        "delete virtual machine mlflow-3-vm",
        "delete network interface mlflow-3-nic",
        "update load balancer mlflow-lb",
    ]
    result, writes = stack(cluster(rg, vm_count=2, postgres_server=""))
    assert result.get("failed") is not True, result.get("msg")
    assert [(m, p.rsplit("/", 1)[1]) for m, p in writes] == [
        ("DELETE", "mlflow-3-vm"),
        ("DELETE", "mlflow-3-nic"),
        ("PUT", "mlflow-lb"),
    ]
    lb = net(fake, "loadBalancers", "mlflow-lb", rg=rg)
    assert [r["name"] for r in lb["properties"]["inboundNatRules"]] == ["ssh-1", "ssh-2"]
    assert [h["name"] for h in result["hosts"]] == ["mlflow-1", "mlflow-2"]
    assert stack(cluster(rg, vm_count=2, postgres_server=""))[1] == []
    # Destroy finds a VM above the count too (the count lowered in the inventory first).
    stack(cluster(rg, vm_count=3, postgres_server=""))
    result, writes = stack(cluster(rg, vm_count=1, postgres_server="", state="absent"))
    assert result.get("failed") is not True, result.get("msg")
    gone = [p.rsplit("/", 1)[1] for _, p in writes]
    assert {"mlflow-1-vm", "mlflow-2-vm", "mlflow-3-vm", "mlflow-lb"} <= set(gone)
    assert gone.index("mlflow-3-nic") < gone.index("mlflow-lb")
