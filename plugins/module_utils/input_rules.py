# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Input rules the argument specs cannot express, each written once and used by every role.

Every rule takes a value and returns None when it is fine, or the end of a message: what is
wrong and what is allowed. The caller puts the variable's name in front (``Problems.check``),
so that each message names its variable. The rules are plain Python (no Ansible import): the
unit tests call them directly (tests/test_input_rules.py).

A rule never repeats a value that may be a secret; the callers pass ``secret=True`` where a
variable is one and the message then leaves the value out.
"""

from __future__ import annotations

import ipaddress
import re

TCP_PORT = (1, 65535)

# Characters that change the meaning of a value inside a systemd unit line (specifiers,
# variable expansion, quoting, escapes), on a command line (spaces) or in a comma-joined
# option (MLflow's --allowed-hosts and --cors-allowed-origins).
_UNSAFE_TOKEN = re.compile(r"[\s%$\"'\\,;`]|[\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DNS_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"^(\*\.)?{_DNS_LABEL}(\.{_DNS_LABEL})*\.?$")
_PATH = re.compile(r"^/[A-Za-z0-9._/@+-]*$")
_RELEASE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+((a|b|rc)[0-9]+)?(\.post[0-9]+)?$")
_PEM_BLOCK = "-----BEGIN {}-----"


class Problems:
    """Every problem found, in order, each as "<variable>: <what is wrong, what is allowed>"."""

    def __init__(self):
        self.items: list[str] = []

    def add(self, name: str, text: str) -> None:
        self.items.append(f"{name}: {text}")

    def check(self, name: str, value, rule, *args, **kwargs) -> bool:
        """Apply one rule; True when the value passed."""
        text = rule(value, *args, **kwargs)
        if text:
            self.add(name, text)
        return not text

    def each(self, name: str, values, rule, *args, **kwargs) -> None:
        """Apply one rule to every element of a list, naming the element by its index."""
        for index, value in enumerate(values or []):
            self.check(f"{name}[{index}]", value, rule, *args, **kwargs)

    def __bool__(self):
        return bool(self.items)


def _show(value, secret: bool) -> str:
    return "the value" if secret else f'"{value}"'


# --- numbers ------------------------------------------------------------------------------------


def tcp_port(value) -> str | None:
    lo, hi = TCP_PORT
    if not _is_int(value) or not lo <= int(value) <= hi:
        return f"{value} is not a TCP port ({lo}-{hi})"
    return None


def in_range(value, lo, hi=None, meaning: str = "") -> str | None:
    """An integer between lo and hi (inclusive; hi None: no upper bound)."""
    why = f" ({meaning})" if meaning else ""
    if not _is_int(value):
        return f"{value} is not a whole number{why}"
    if hi is None and int(value) < lo:
        return f"{value} must be at least {lo}{why}"
    if hi is not None and not lo <= int(value) <= hi:
        return f"{value} is outside {lo}-{hi}{why}"
    return None


def _is_int(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()) is not None


# --- names and addresses ------------------------------------------------------------------------


def ip_address(value, hint: str = "") -> str | None:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return f"{value} is not an IP address{hint}"
    return None


def network(value) -> str | None:
    """An IPv4/IPv6 address or CIDR (host bits may be set: 10.0.0.1/8 means 10.0.0.0/8)."""
    try:
        ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return f"{value} is not an IPv4/IPv6 address or CIDR (e.g. 203.0.113.0/24)"
    return None


def contains(networks, address) -> bool:
    """Whether one of `networks` (addresses or CIDRs; invalid ones ignored) holds `address`."""
    try:
        wanted = ipaddress.ip_address(str(address))
    except ValueError:
        return False
    for item in networks:
        try:
            if wanted in ipaddress.ip_network(str(item), strict=False):
                return True
        except ValueError:
            continue
    return False


def cidr(value) -> str | None:
    """A network in CIDR notation (a prefix length is required)."""
    if "/" not in str(value) or network(value):
        return f'"{value}" is not a CIDR (e.g. 203.0.113.0/24)'
    return None


def prefix_length(value) -> int:
    return ipaddress.ip_network(str(value), strict=False).prefixlen


def dns_name(value, wildcard: bool = False) -> str | None:
    text = str(value)
    ok = len(text) <= 253 and _DNS_NAME.fullmatch(text) and (wildcard or not text.startswith("*."))
    if not ok:
        return f'"{value}" is not a DNS name' + (" (a leading *. is allowed)" if wildcard else "")
    return None


def host(value) -> str | None:
    """A DNS name or an IP address (what goes between @ and : of a database URI)."""
    if ip_address(value) is None or dns_name(value) is None:
        return None
    return f'"{value}" is not a DNS name or an IP address'


def matches(value, pattern: str, allowed: str, secret: bool = False) -> str | None:
    """The value matches the regular expression; `allowed` says in words what does."""
    if not isinstance(value, str) or re.fullmatch(pattern, value) is None:
        return f"{_show(value, secret)} is not allowed; {allowed}"
    return None


def account_name(value) -> str | None:
    """A Linux user or group name (useradd's portable rule)."""
    if not isinstance(value, str) or re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value) is None:
        return (
            f'"{value}" is not a valid account name (lowercase letters, digits, "_", "-";'
            " 32 at most)"
        )
    return None


def env_name(value) -> str | None:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(value)) is None:
        return f'"{value}" is not an environment variable name'
    return None


def release_version(value, example: str) -> str | None:
    if not isinstance(value, str) or _RELEASE.fullmatch(value) is None:
        return f'"{value}" is not a release version (e.g. {example})'
    return None


def version_tuple(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"[0-9]+", value)[:3])


def guid(value) -> str | None:
    pattern = r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
    if re.fullmatch(pattern, str(value)) is None:
        return f'"{value}" is not a GUID (e.g. 00000000-0000-0000-0000-000000000000)'
    return None


def azure_storage_account(value) -> str | None:
    if re.fullmatch(r"[a-z0-9]{3,24}", str(value)) is None:
        return (
            f'"{value}" breaks the Azure naming rules: 3-24 characters, lowercase letters and'
            " digits only"
        )
    return None


def azure_container(value) -> str | None:
    if re.fullmatch(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", str(value)) is None:
        return (
            f'"{value}" breaks the Azure naming rules: 3-63 characters, lowercase letters, digits'
            " and single hyphens, starting and ending with a letter or digit"
        )
    return None


# --- paths, tokens, text ------------------------------------------------------------------------


def absolute_path(value) -> str | None:
    """An absolute path on the host that is safe in unit files and on command lines."""
    text = str(value)
    if not text.startswith("/"):
        return f'"{value}" must be an absolute path'
    if _PATH.fullmatch(text) is None or "/../" in text + "/" or text.endswith("/.."):
        return (
            f'"{value}" may hold letters, digits, ".", "_", "-", "+", "@" and "/" only, and no'
            " .. (it goes into unit files and command lines)"
        )
    return None


def token(value, what: str = "value") -> str | None:
    """One command-line or unit-file token: no spaces, quotes, %, $, commas, not an option."""
    text = str(value)
    if not text or _UNSAFE_TOKEN.search(text) or text.startswith("-"):
        return (
            f'"{value}" is not a safe {what}: no spaces, quotes, backslashes, commas,'
            " semicolons, % or $, and no leading -"
        )
    return None


def printable(value, secret: bool = False, required: bool = False) -> str | None:
    """Text on one line: no control characters (a newline would start a new config line)."""
    text = "" if value is None else str(value)
    if required and not text:
        return "must not be empty"
    if _CONTROL.search(text):
        shown = "" if secret else f'"{value}" '
        return f"{shown}must hold printable characters only (no control characters or newlines)"
    return None


def password(value, min_length: int, rule: str) -> str | None:
    """A chosen password: printable, at least min_length characters; never echoed."""
    text = "" if value is None else str(value)
    if _CONTROL.search(text):
        return "must hold printable characters only (no control characters or newlines)"
    if len(text) < min_length:
        return f"{len(text)} characters; needs {min_length} or more ({rule})"
    return None


def http_url(value, https_only: bool = False, secret: bool = False) -> str | None:
    """An http(s) URL with a host and no spaces (it may carry user:password@)."""
    schemes = "https" if https_only else "https?"
    pattern = rf"{schemes}://[^/\s?#]+(/[^\s]*)?"
    if not isinstance(value, str) or re.fullmatch(pattern, value) is None:
        kind = "an https:// URL" if https_only else "an http(s) URL"
        return f"{_show(value, secret)} is not {kind}"
    return None


def origin(value) -> str | None:
    """A browser origin: scheme://host[:port], no path (MLflow's --cors-allowed-origins)."""
    text = str(value)
    m = re.fullmatch(r"(https?)://([^/:\s,]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?", text)
    if m is None or (m.group(3) and tcp_port(m.group(3)[1:])):
        return f'"{value}" is not an origin (scheme://host[:port], e.g. https://app.example.com)'
    return None


def pip_requirement(value) -> str | None:
    """A requirement line for the venv: a package, not a pip option, a path or a URL."""
    text = str(value)
    name = r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?(\[[A-Za-z0-9._, -]+\])?"
    specifier = r"\s*(===?|~=|!=|<=?|>=?)\s*[A-Za-z0-9.*+!_-]+"
    rest = rf"({specifier}(\s*,{specifier})*)?"
    marker = r"(\s*;\s*[A-Za-z0-9_.<>=!~'\" ()-]+)?"
    if _CONTROL.search(text) or re.fullmatch(name + rest + marker, text) is None:
        return (
            f'"{value}" is not a requirement (a package name with optional extras, version'
            " specifiers and marker, e.g. psycopg2-binary==2.9.13)"
        )
    return None


def debian_package(value) -> str | None:
    if re.fullmatch(r"[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?", str(value)) is None:
        return f'"{value}" is not a Debian package name (e.g. htop, or htop=3.2.2-2)'
    return None


def nginx_size(value) -> str | None:
    if re.fullmatch(r"[0-9]+[kKmMgG]?", str(value)) is None:
        return f'"{value}" is not an nginx size (e.g. 5g, 500m, 0)'
    return None


# --- PEM ----------------------------------------------------------------------------------------


def pem(value, marker: str, read) -> str | None:
    """A path on the controller or PEM text, holding at least one `marker` block.

    `read(path)` returns the file's text, or None when no such file is found (the action
    plugin resolves relative paths the way `lookup('file')` does).
    """
    text = str(value)
    found = re.compile(
        _PEM_BLOCK.format(rf"[A-Z ]*{marker}" if marker == "PRIVATE KEY" else marker)
    )
    if text.lstrip().startswith("-----BEGIN"):
        if not found.search(text):
            return f"PEM text holds no {marker} block"
        return None
    content = read(text)
    if content is None:
        return (
            f"{value} is not a file on the controller (absolute, or relative to the playbook or"
            " a files/ directory); give a PEM file path or PEM text"
        )
    if not found.search(content):
        return f"{value} holds no PEM {marker}"
    return None


# --- lists --------------------------------------------------------------------------------------


def not_a_string(value) -> str | None:
    """For list variables: a plain string would be split into one element silently."""
    if isinstance(value, str):
        return f'must be a list (YAML sequence), not the string "{value}"'
    return None


def duplicates(values) -> list:
    seen, twice = set(), []
    for value in values:
        if value in seen and value not in twice:
            twice.append(value)
        seen.add(value)
    return twice
