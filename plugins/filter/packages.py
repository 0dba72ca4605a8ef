# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Filter of the roles' package steps: which of their packages dpkg does not have installed.

A role asks dpkg once (`dpkg-query --show --showformat='${Package}=${db:Status-Status};' PKG...`,
a fraction of a second) and runs apt only for what is missing: apt's own check opens its cache,
about a second each time, in every role, on every run.
"""

from __future__ import annotations


def packages_missing(dpkg_output, wanted):
    """The packages of `wanted` that `dpkg_output` (Package=Status;...) does not show installed.
    A name dpkg does not know (a virtual package, a typo) counts as missing: apt decides."""
    installed = set()
    for entry in str(dpkg_output or "").split(";"):
        name, sep, status = entry.strip().partition("=")
        if sep and status == "installed":
            installed.add(name.split(":", 1)[0])
    return [name for name in wanted if name not in installed]


class FilterModule:
    def filters(self):
        return {"packages_missing": packages_missing}
