"""nginx's reload (systemd's ExecReload, installed by role nginx_tls) without a lost request.

A plain reload (SIGHUP) makes the old workers close every idle keep-alive connection at once. A
client that sends its next request on one at that moment gets a reset or an empty answer
(RemoteDisconnected), and most HTTP clients do not retry that (MLflow's Python client does).
So, before the signal, nginx answers every request with `Connection: close` for a short window
(nginx.conf sends requests to a location with keepalive_timeout 0 while FLAG exists): a busy
client leaves its connection at a response, where it knows the server closes it, and opens a
new one. The flag stays until the old workers have finished their last requests, so those too
are answered with `Connection: close` rather than closed after a keep-alive answer.

    nginx-graceful-reload MASTER_PID --flag PATH [--window SECONDS] [--timeout SECONDS]

Exits non-zero, saying why, when the master is gone or the signal fails; a slow old worker is
only reported (nginx itself keeps it until its requests end).
"""

import argparse
import fcntl
import os
import signal
import sys
import time


def children(pid, proc="/proc"):
    """PIDs whose parent is `pid` (nginx's workers, the cache manager...)."""
    found = set()
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "stat")) as handle:
                stat = handle.read()
        except OSError:
            continue  # gone meanwhile
        # The command name may hold spaces and parentheses: the ppid follows the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry))
    return found


def alive(pids, proc="/proc"):
    return {pid for pid in pids if os.path.exists(os.path.join(proc, str(pid)))}


def reload(master, flag, window, timeout, proc="/proc", kill=os.kill, sleep=time.sleep):
    """Raise the flag, wait `window`, signal the master, wait for its old children to exit (at
    most `timeout` s), drop the flag. Returns the PIDs of old workers still running then."""
    if not os.path.exists(os.path.join(proc, str(master))):
        raise ProcessLookupError(f"nginx's master process {master} is not running")
    with open(flag, "w") as handle:
        handle.write("nginx is reloading: answers close keep-alive connections\n")
    os.chmod(flag, 0o644)
    try:
        if window > 0:
            sleep(window)
        old = children(master, proc)
        kill(master, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        left = alive(old, proc)
        while left and time.monotonic() < deadline:
            sleep(0.1)
            left = alive(old, proc)
        return left
    finally:
        os.unlink(flag)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("master", type=int, help="nginx's master PID (systemd's $MAINPID)")
    parser.add_argument("--flag", required=True, help="the file nginx.conf checks")
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    # One reload at a time (a handler and the renewal timer may meet): the flag is shared.
    with open(args.flag + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            left = reload(args.master, args.flag, args.window, args.timeout)
        except OSError as exc:
            print(f"nginx-graceful-reload: {exc}", file=sys.stderr)
            return 1
    if left:
        print(
            f"nginx-graceful-reload: old workers {sorted(left)} still finish requests after"
            f" {args.timeout:g} s; nginx keeps them until they end",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
