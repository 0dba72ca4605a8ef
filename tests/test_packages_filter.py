"""The roles' package steps ask dpkg first (plugins/filter/packages.py) and run apt only for what
is missing."""

from ansible_collections.mlflow_provision.tracking.plugins.filter.packages import packages_missing


def test_only_installed_packages_count():
    out = "nginx=installed;python3-passlib=config-files;libc6:amd64=installed;"
    assert packages_missing(out, ["nginx", "python3-passlib", "libc6", "python3-cryptography"]) == [
        "python3-passlib",
        "python3-cryptography",
    ]
    assert packages_missing("", ["nginx"]) == ["nginx"]
    assert packages_missing(None, []) == []
