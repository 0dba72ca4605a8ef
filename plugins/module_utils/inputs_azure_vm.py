# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Role azure_vm: names Azure accepts, sizes, the admin networks, the SSH key, storage.

Rules in the form of plugins/module_utils/role_inputs.py (which lists them in ``CHECKS``): ``v``
holds the variables after the argument spec's type checks, ``read(path)`` a controller file's
text or None; the result is a list of messages, each starting with its variable.
"""

from __future__ import annotations

import ipaddress
import re

try:  # Loaded by Ansible as collection content, or by the tests from .cache/collections.
    from ansible_collections.mlflow_provision.tracking.plugins.module_utils import input_rules as r
except ImportError:  # pragma: no cover - ansible-test sanity imports it by this path too
    from . import input_rules as r  # type: ignore[no-redef]


def check_azure_vm(v, read):
    p = r.Problems()
    if r.guid(v["azure_vm_subscription_id"]):
        p.add(
            "azure_vm_subscription_id",
            f'"{v["azure_vm_subscription_id"]}" is not a subscription id (a GUID; or set AZURE_SUBSCRIPTION_ID)',
        )
    if re.fullmatch(r"[a-z][a-z0-9]{2,39}", str(v["azure_vm_location"])) is None:
        p.add(
            "azure_vm_location",
            f'"{v["azure_vm_location"]}" is not a region name (lowercase letters and digits, e.g.'
            " westeurope; see az account list-locations)",
        )
    if re.fullmatch(r"[a-z][a-z0-9-]{1,61}[a-z0-9]", v["azure_vm_dns_label"]) is None:
        p.add(
            "azure_vm_dns_label",
            f'"{v["azure_vm_dns_label"]}" breaks the Azure rule ^[a-z][a-z0-9-]{{1,61}}[a-z0-9]$'
            " (3-63 lowercase letters, digits, hyphens; a letter first)",
        )
    admin = v["azure_vm_admin_cidrs"]
    if not admin:
        p.add("azure_vm_admin_cidrs", "required, the ranges allowed to SSH (e.g. [203.0.113.0/24])")
    for index, cidr in enumerate(admin):
        if r.network(cidr):
            p.add(f"azure_vm_admin_cidrs[{index}]", f'"{cidr}" is not a CIDR (e.g. 203.0.113.0/24)')
        elif r.prefix_length(cidr) == 0 and not v["azure_vm_allow_ssh_from_anywhere"]:
            p.add(
                f"azure_vm_admin_cidrs[{index}]",
                f"{cidr} opens SSH to the whole Internet; list your admin ranges, or set"
                " azure_vm_allow_ssh_from_anywhere: true",
            )
    p.check(
        "azure_vm_storage_soft_delete_days",
        v["azure_vm_storage_soft_delete_days"],
        r.in_range,
        1,
        365,
        "days",
    )
    p.each("azure_vm_vnet_address_prefixes", v["azure_vm_vnet_address_prefixes"], r.cidr)
    p.each("azure_vm_private_cidrs", v["azure_vm_private_cidrs"], r.cidr)
    p.check("azure_vm_subnet_address_prefix", v["azure_vm_subnet_address_prefix"], r.cidr)
    if v["azure_vm_state"] == "present":
        key = (
            v["azure_vm_ssh_public_key"] or read(v["azure_vm_ssh_public_key_file"]) or ""
        ).strip()
        openssh = r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]{40,}={0,3}( [^\n]*)?"
        if not key:
            p.add(
                "azure_vm_ssh_public_key",
                f"missing (and {v['azure_vm_ssh_public_key_file']} is not readable)",
            )
        elif re.fullmatch(openssh, key) is None:
            p.add(
                "azure_vm_ssh_public_key", "not an OpenSSH public key (ssh-ed25519 AAAA... comment)"
            )
    if v["azure_vm_storage_account"]:
        p.check("azure_vm_storage_account", v["azure_vm_storage_account"], r.azure_storage_account)
    p.check("azure_vm_storage_container", v["azure_vm_storage_container"], r.azure_container)
    group = v["azure_vm_resource_group"]
    if re.fullmatch(r"[-\w._()]{1,90}", group) is None or group.endswith("."):
        p.add("azure_vm_resource_group", f'"{group}" is not a valid resource group name')
    if re.fullmatch(r"[a-z][a-z0-9-]{0,50}", v["azure_vm_name"]) is None:
        p.add(
            "azure_vm_name",
            f'"{v["azure_vm_name"]}" must be lowercase letters, digits and hyphens (a letter first)',
        )
    p.check("azure_vm_os_disk_size_gb", v["azure_vm_os_disk_size_gb"], r.in_range, 30, 4095)
    if v["azure_vm_resource_manager_endpoint"]:
        p.check(
            "azure_vm_resource_manager_endpoint",
            v["azure_vm_resource_manager_endpoint"],
            r.http_url,
            True,
        )
    p.check(
        "azure_vm_admin_username",
        v["azure_vm_admin_username"],
        r.matches,
        r"(?!(admin|root|administrator|guest|user|test)$)[a-z_][a-z0-9_-]{0,31}",
        "a Linux user name (lowercase, 32 at most) that Azure allows (not admin, root, administrator, guest, user, test)",
    )
    p.check(
        "azure_vm_size",
        v["azure_vm_size"],
        r.matches,
        r"[A-Za-z][A-Za-z0-9_]{1,63}",
        "a VM size such as Standard_B2s",
    )
    p.check(
        "azure_vm_inventory_group",
        v["azure_vm_inventory_group"],
        r.matches,
        r"[A-Za-z_][A-Za-z0-9_]*",
        "an Ansible group name (letters, digits, underscores)",
    )
    p.check("azure_vm_ssh_timeout", v["azure_vm_ssh_timeout"], r.in_range, 1, None, "seconds")
    for key, value in (v["azure_vm_tags"] or {}).items():
        if re.fullmatch(r"[^<>%&\\?/]{1,512}", str(key)) is None:
            p.add(
                "azure_vm_tags",
                f'"{key}" is not a tag name (1-512 characters without < > % & \\ ? /)',
            )
        elif len(str(value)) > 256:
            p.add(f"azure_vm_tags.{key}", "longer than 256 characters")
    _layout(p, v)
    _postgres(p, v)
    _keyvault(p, v)
    return p.items


def _keyvault(p, v):
    name = str(v.get("azure_vm_keyvault_name") or "")
    if name and (
        re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", name) is None or "--" in name
    ):
        p.add(
            "azure_vm_keyvault_name",
            f'"{name}" breaks the Azure rule: 3-24 letters, digits and hyphens, a letter first,'
            " a letter or digit last, no two hyphens in a row (globally unique)",
        )
    for index, officer in enumerate(v.get("azure_vm_keyvault_secret_officers") or []):
        where = f"azure_vm_keyvault_secret_officers[{index}]"
        if not isinstance(officer, dict) or r.guid(officer.get("principal_id", "")):
            p.add(
                where,
                "must be {principal_id: <object id, a GUID>, principal_type: User, Group or"
                " ServicePrincipal}",
            )
        elif officer.get("principal_type", "User") not in ("User", "Group", "ServicePrincipal"):
            p.add(
                f"{where}.principal_type",
                f'"{officer["principal_type"]}" is not one of User, Group, ServicePrincipal',
            )
    p.check(
        "azure_vm_keyvault_retention_days",
        v.get("azure_vm_keyvault_retention_days", 90),
        r.in_range,
        7,
        90,
        "days",
    )


def _layout(p, v):
    balanced = v["azure_vm_layout"] == "load_balanced"
    if balanced:
        p.check("azure_vm_count", v["azure_vm_count"], r.in_range, 1, 20, "VMs")
    elif int(v["azure_vm_count"]) != 1:
        p.add(
            "azure_vm_count",
            f"{v['azure_vm_count']} VMs need azure_vm_layout: load_balanced (layout single is one VM)",
        )
    zones = [str(z) for z in v["azure_vm_zones"] or []]
    if any(z not in ("1", "2", "3") for z in zones) or len(set(zones)) != len(zones):
        p.add("azure_vm_zones", f'{zones} must be distinct zones among "1", "2", "3" (or empty)')
    if balanced:
        base, count = int(v["azure_vm_ssh_nat_port_base"]), int(v["azure_vm_count"])
        ports = range(base + 1, base + count + 1)
        if base < 0 or base + count > 65534:
            p.add(
                "azure_vm_ssh_nat_port_base",
                f"{base}: the SSH ports base+1 .. base+count must be 1-65534",
            )
        elif 80 in ports or 443 in ports:
            p.add("azure_vm_ssh_nat_port_base", f"{base}: the SSH ports would take 80 or 443")
        p.check(
            "azure_vm_probe_interval", v["azure_vm_probe_interval"], r.in_range, 5, 300, "seconds"
        )
        p.check(
            "azure_vm_probe_threshold", v["azure_vm_probe_threshold"], r.in_range, 1, 100, "probes"
        )
        p.check(
            "azure_vm_probe_path",
            v["azure_vm_probe_path"],
            r.matches,
            r"/[\x21-\x7e]*",
            "a path such as /lb-health",
        )


def _networks(v):
    """The subnets the stack creates, by variable, as networks (those that parse)."""
    found = {}
    for name in ("azure_vm_subnet_address_prefix", "azure_vm_postgres_subnet_prefix"):
        if name == "azure_vm_postgres_subnet_prefix" and not v["azure_vm_postgres_server"]:
            continue
        try:
            found[name] = ipaddress.ip_network(str(v[name]), strict=False)
        except ValueError:
            continue
    return found


def _postgres(p, v):
    server = v["azure_vm_postgres_server"]
    spaces = []
    for prefix in v["azure_vm_vnet_address_prefixes"] or []:
        try:
            spaces.append(ipaddress.ip_network(str(prefix), strict=False))
        except ValueError:
            continue
    subnets = _networks(v)
    for name, net in subnets.items():
        if spaces and not any(net.version == s.version and net.subnet_of(s) for s in spaces):
            p.add(
                name, f"{net} is outside azure_vm_vnet_address_prefixes {[str(s) for s in spaces]}"
            )
    if len(subnets) == 2 and subnets["azure_vm_subnet_address_prefix"].overlaps(
        subnets["azure_vm_postgres_subnet_prefix"]
    ):
        p.add(
            "azure_vm_postgres_subnet_prefix",
            f"{subnets['azure_vm_postgres_subnet_prefix']} overlaps azure_vm_subnet_address_prefix"
            f" {subnets['azure_vm_subnet_address_prefix']}: the database needs a subnet of its own",
        )
    if not server:
        return
    if re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", server) is None:
        p.add(
            "azure_vm_postgres_server",
            f'"{server}" must be 3-63 lowercase letters, digits and hyphens (not first or last)',
        )
    sku = str(v["azure_vm_postgres_sku"])
    tier = re.fullmatch(r"Standard_([BDE])[0-9]+[a-z]*(_v[0-9]+)?", sku)
    if tier is None:
        p.add(
            "azure_vm_postgres_sku",
            f'"{sku}" is not a flexible server SKU (Standard_B1ms, Standard_D2ds_v5, Standard_E2ds_v5 ...)',
        )
    elif tier.group(1) == "B" and v["azure_vm_postgres_high_availability"] != "Disabled":
        p.add(
            "azure_vm_postgres_high_availability",
            f"{v['azure_vm_postgres_high_availability']} is not offered on the Burstable tier"
            f" ({sku}): choose a Standard_D... or Standard_E... SKU, or Disabled",
        )
    if (
        v["azure_vm_postgres_high_availability"] == "ZoneRedundant"
        and len(v["azure_vm_zones"] or []) < 2
    ):
        p.add("azure_vm_postgres_high_availability", "ZoneRedundant needs two azure_vm_zones")
    if str(v["azure_vm_postgres_version"]) not in ("13", "14", "15", "16", "17"):
        p.add("azure_vm_postgres_version", f'"{v["azure_vm_postgres_version"]}" must be 13-17')
    p.check(
        "azure_vm_postgres_storage_gb",
        v["azure_vm_postgres_storage_gb"],
        r.in_range,
        32,
        16384,
        "GiB",
    )
    p.check(
        "azure_vm_postgres_backup_retention_days",
        v["azure_vm_postgres_backup_retention_days"],
        r.in_range,
        7,
        35,
        "days",
    )
    login = str(v["azure_vm_postgres_admin_user"])
    reserved = (
        "azure_superuser",
        "azure_pg_admin",
        "admin",
        "administrator",
        "root",
        "guest",
        "public",
    )
    if (
        re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", login) is None
        or login in reserved
        or login.startswith("pg_")
    ):
        p.add(
            "azure_vm_postgres_admin_user",
            f'"{login}" is not allowed: lowercase letters, digits, underscores; not {", ".join(reserved)}, not pg_...',
        )
    if v["azure_vm_state"] == "present":
        password = str(v["azure_vm_postgres_admin_password"] or "")
        classes = sum(
            bool(re.search(c, password)) for c in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^a-zA-Z0-9]")
        )
        if not password:
            p.add("azure_vm_postgres_admin_password", "required with azure_vm_postgres_server")
        elif not 8 <= len(password) <= 128 or classes < 3 or login in password:
            p.add(
                "azure_vm_postgres_admin_password",
                "Azure refuses it: 8-128 characters from three of upper case, lower case, digits,"
                " symbols, without the login name (the value is not shown)",
            )
