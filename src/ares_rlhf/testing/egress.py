"""Trace the network connections an ``ares`` command makes (Python audit hooks, no root needed).

    python -m ares_rlhf.testing.egress RECORD.json -- discover CONFIG --quiet [-- repair-rm RUN]

runs each ``ares`` command (separated by ``--``) in this process with an audit hook on
``socket.connect``, ``socket.getaddrinfo``, ``socket.sendto`` and ``http.client.connect``, then
writes RECORD.json: the events seen, each command's exit code, and the hub and telemetry
variables as the commands left them. :func:`classify` sorts targets into loopback, local
sockets, configured endpoints and everything else (egress).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

EVENTS = ("socket.connect", "socket.getaddrinfo", "socket.sendto", "http.client.connect")
SWITCHES = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_HUB_DISABLE_TELEMETRY",
    "DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
    "ARES_ALLOW_HUB",
)
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _target(event: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if event in ("socket.connect", "socket.sendto"):
        address = args[1]
        family = getattr(args[0], "family", None)
        if family == socket.AF_UNIX or isinstance(address, str | bytes):
            return {"event": event, "kind": "unix", "host": None, "port": None}
        if isinstance(address, tuple) and len(address) >= 2:
            return {"event": event, "kind": "inet", "host": str(address[0]), "port": address[1]}
        return {"event": event, "kind": "other", "host": repr(address)[:100], "port": None}
    if event == "socket.getaddrinfo":
        host = args[0].decode() if isinstance(args[0], bytes) else args[0]
        return {"event": event, "kind": "lookup", "host": host, "port": args[1]}
    if event == "http.client.connect":
        return {"event": event, "kind": "http", "host": str(args[1]), "port": args[2]}
    return None


def is_loopback(host: str | None) -> bool:
    if host is None:
        return True
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def classify(event: dict[str, Any], endpoints: set[str] = frozenset()) -> str:
    """``local`` (unix socket), ``loopback``, ``endpoint`` (a configured host) or ``egress``."""
    if event["kind"] == "unix":
        return "local"
    host = event["host"]
    if host is None or is_loopback(host):
        return "loopback"
    if host in endpoints:
        return "endpoint"
    return "egress"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    record_path = Path(argv[0])
    commands: list[list[str]] = [[]]
    for arg in argv[2:]:
        if arg == "--":
            commands.append([])
        else:
            commands[-1].append(arg)
    seen: list[dict[str, Any]] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in EVENTS:
            target = _target(event, args)
            if target is not None:
                seen.append(target)

    sys.addaudithook(hook)
    import os

    from ares_rlhf.cli import main as ares_main

    codes = []
    for command in commands:
        try:
            codes.append(ares_main(command))
        except SystemExit as done:
            codes.append(done.code if isinstance(done.code, int) else 1)
    time.sleep(float(os.environ.get("ARES_EGRESS_SETTLE_S", "1")))  # background threads
    record = {
        "commands": commands,
        "exit_codes": codes,
        "events": list(seen),
        "switches": {name: os.environ.get(name) for name in SWITCHES},
    }
    record_path.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
