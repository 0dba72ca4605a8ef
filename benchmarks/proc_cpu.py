"""CPU time (user + system, microseconds) used so far by the processes of some systemd units,
from /proc: each process's utime + stime, plus cutime + cstime (its children that exited and
were waited for, e.g. a server's reaped workers). The test hosts' cgroups are v1 without
per-unit CPU accounting, so /proc it is; a process that exits unreaped during a window loses its
share (none does while the load runs: no restart).

Standard library only: bench.py runs it inside the container with the system Python,
load.py imports it.  python3 proc_cpu.py 'mlflow@[0-9]+|nginx|mariadb'
"""

import os
import re
import subprocess
import sys


def units_cpu_usec(pattern):
    """The CPU microseconds of every process whose unit's name (without .service) matches
    `pattern` (a regular expression, matched whole)."""
    wanted = re.compile(rf"(?:{pattern})\.service")
    listing = subprocess.run(
        ["ps", "-eo", "pid=,unit="], capture_output=True, text=True, check=True
    ).stdout
    ticks = 0
    for line in listing.splitlines():
        pid, _, unit = line.strip().partition(" ")
        if not wanted.fullmatch(unit.strip()):
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                # Fields after "pid (comm) ": the name may hold spaces, the last ")" ends it.
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), 12-15 after the name.
        ticks += sum(int(value) for value in fields[11:15])
    return ticks * 1_000_000 // os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    print(units_cpu_usec(sys.argv[1]))
