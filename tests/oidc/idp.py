#!/usr/bin/env python3
"""Start or stop the tests' OpenID provider (provider.mjs) on the controller.

    idp.py start --state DIR --address IP --port N --cert PEM --key PEM --ca PEM
                 --secret-file F --redirect URI...
    idp.py stop --state DIR

`start` is idempotent: it prints "running" when the provider of DIR answers already, else
installs the pinned oidc-provider (npm ci, once, into .cache/test-idp of the clone), starts it
detached with its log in DIR/idp.log and prints "started" once its OpenID configuration answers.
It ends on its own after --lifetime seconds (a scenario that never reached `destroy` leaves no
server behind for long). `stop` ends it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
INSTALL = HERE.parents[1] / ".cache" / "test-idp"


def _answers(issuer: str, cafile: str) -> bool:
    context = ssl.create_default_context(cafile=cafile)
    try:
        with urllib.request.urlopen(
            f"{issuer}/.well-known/openid-configuration", timeout=3, context=context
        ) as answer:
            return answer.status == 200
    except OSError:
        return False


def _alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _install() -> None:
    wanted = (HERE / "package-lock.json").read_bytes()
    installed = INSTALL / "package-lock.json"
    if (
        installed.exists()
        and (INSTALL / "node_modules").is_dir()
        and installed.read_bytes() == wanted
    ):
        shutil.copy(HERE / "provider.mjs", INSTALL)
        return
    INSTALL.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "provider.mjs"):
        shutil.copy(HERE / name, INSTALL)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=INSTALL,
        check=True,
        stdout=sys.stderr,
    )


def start(args) -> str:
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    issuer = f"https://{args.address}:{args.port}"
    pidfile = state / "idp.pid"
    if _alive(pidfile) and _answers(issuer, args.ca):
        return "running"
    stop(args)
    _install()
    env = {
        **os.environ,
        "MP_IDP_ISSUER": issuer,
        "MP_IDP_PORT": str(args.port),
        "MP_IDP_CERT": args.cert,
        "MP_IDP_KEY": args.key,
        "MP_IDP_CLIENT_SECRET_FILE": args.secret_file,
        "MP_IDP_REDIRECT_URIS": ",".join(args.redirect),
    }
    with open(state / "idp.log", "ab") as log:
        process = subprocess.Popen(
            ["timeout", str(args.lifetime), "node", str(INSTALL / "provider.mjs")],
            cwd=INSTALL,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    pidfile.write_text(str(process.pid))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the OpenID provider exited ({process.returncode}); see {state / 'idp.log'}")
        if _answers(issuer, args.ca):
            return "started"
        time.sleep(0.3)
    sys.exit(f"the OpenID provider did not answer at {issuer} within 30 s; see {state / 'idp.log'}")


def stop(args) -> str:
    pidfile = Path(args.state) / "idp.pid"
    pid = _alive(pidfile)
    if pid is None:
        return "stopped"
    os.killpg(pid, signal.SIGTERM)
    pidfile.unlink()
    return "stopped"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--state", required=True)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9443)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ca")
    parser.add_argument("--secret-file")
    parser.add_argument("--redirect", action="append", default=[])
    parser.add_argument("--lifetime", type=int, default=3600)
    args = parser.parse_args()
    print(start(args) if args.action == "start" else stop(args))


if __name__ == "__main__":
    main()
