"""The pieces of a drain through nginx that are plain logic: the upstream file, nginx's workers,
the kernel's TCP table. No Ansible import; tests/test_nginx_upstream.py covers them.

The upstream file (rendered by role nginx_tls) holds one `server ADDRESS [PARAMETERS];` line per
MLflow instance. Draining an instance adds nginx's `down` parameter to its line: after a reload
new requests go only to the other servers, while requests already sent finish.
"""

import ipaddress
import os
import re

SERVER_LINE = re.compile(
    r"^(?P<indent>\s*)server\s+(?P<address>\S+?)(?P<params>(\s+[^;\s]+)*)\s*;(?P<rest>.*)$"
)


def parse_address(address):
    """('127.0.0.1', 5000) from '127.0.0.1:5000' or '[::1]:5000'."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def servers(text):
    """{address: down?} for every `server` line of an upstream file."""
    found = {}
    for line in text.splitlines():
        match = SERVER_LINE.match(line)
        if match:
            found[match["address"]] = "down" in match["params"].split()
    return found


def set_down(text, address, down):
    """The file with `down` added to (or removed from) the line of `address`."""
    lines = []
    for line in text.splitlines(keepends=True):
        match = SERVER_LINE.match(line.rstrip("\n"))
        if match and match["address"] == address:
            params = [p for p in match["params"].split() if p != "down"]
            params += ["down"] if down else []
            words = "".join(" " + p for p in params)
            line = f"{match['indent']}server {address}{words};{match['rest']}\n"
        lines.append(line)
    return "".join(lines)


def _hex_endpoint(field, family):
    """(ip_address, port) of one address field of /proc/net/tcp or tcp6."""
    raw_ip, raw_port = field.split(":")
    packed = bytes.fromhex(raw_ip)
    if family == 4:
        ip = ipaddress.IPv4Address(packed[::-1])
    else:
        # Four 32-bit words, each in host (little-endian) order.
        ip = ipaddress.IPv6Address(b"".join(packed[i : i + 4][::-1] for i in range(0, 16, 4)))
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
    return ip, int(raw_port, 16)


ESTABLISHED = "01"


def established_to(address, tables):
    """How many established TCP connections have `address` as their remote end.

    `tables` maps 4 and 6 to the text of /proc/net/tcp and /proc/net/tcp6. Connections nginx
    holds to an upstream server have that server as their remote end; the server's own side
    of the same connections has it as the local end and is not counted.
    """
    host, port = parse_address(address)
    want = ipaddress.ip_address(host)
    if isinstance(want, ipaddress.IPv6Address) and want.ipv4_mapped:
        want = want.ipv4_mapped
    count = 0
    for family, text in tables.items():
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 4 or fields[3] != ESTABLISHED:
                continue
            if _hex_endpoint(fields[2], family) == (want, port):
                count += 1
    return count


def read_tcp_tables(proc="/proc"):
    tables = {}
    for family, name in ((4, "tcp"), (6, "tcp6")):
        try:
            with open(os.path.join(proc, "net", name)) as handle:
                tables[family] = handle.read()
        except OSError:
            tables[family] = ""
    return tables


def worker_pids(master_pid, proc="/proc"):
    """PIDs of nginx workers that take new requests: children of the master whose title is
    exactly `nginx: worker process` (a worker that is retiring after a reload is titled
    `nginx: worker process is shutting down`)."""
    pids = set()
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "stat")) as handle:
                stat = handle.read()
            with open(os.path.join(proc, entry, "cmdline"), "rb") as handle:
                title = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the ppid follows the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == master_pid and title == "nginx: worker process":
            pids.add(int(entry))
    return pids
