# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Role azure_vm: names Azure accepts, sizes, the admin networks, the SSH key, storage.

Rules in the form of plugins/module_utils/role_inputs.py (which lists them in ``CHECKS``): ``v``
holds the variables after the argument spec's type checks, ``read(path)`` a controller file's
text or None; the result is a list of messages, each starting with its variable.
"""

from __future__ import annotations

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
    return p.items
