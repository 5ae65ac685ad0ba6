"""How close the ``openai:`` backend gets to ideal concurrency against a fixed-latency server.

A fake OpenAI-compatible server (``ares_rlhf.testing.fake_openai``, in its own process so it does
not share the client's interpreter lock) answers every chat request after a fixed latency. The
backend sends N requests with a concurrency limit C; the ideal wall time is N / C * latency.
``ratio`` = measured / ideal (target <= 1.2).

    python benchmarks/http_concurrency.py [--requests 2000 --concurrency 32 --latency 0.05]

Prints a table, then (last line) one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time

import httpx

from ares_rlhf.backends import SamplingParams, create_chat_model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ares_rlhf.testing.fake_openai",
            "--port",
            str(port),
            "--latency",
            str(latency),
        ],
        stdout=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{root}/v1/models", timeout=1).status_code == 200:
                return process, root
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("fake server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()

    process, root = start_server(args.latency)
    try:
        model = create_chat_model(
            f"openai:{root}/v1#fake", concurrency=args.concurrency, timeout=30, max_retries=2
        )
        conversations = [
            [{"role": "user", "content": f"benchmark question {i}"}] for i in range(args.requests)
        ]
        cpu_before = os.times()
        started = time.perf_counter()
        answers = model.generate(conversations, SamplingParams(max_new_tokens=16))
        elapsed = time.perf_counter() - started
        cpu_after = os.times()
        client_cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
        retries = model.client.retries
        model.close()
        stats = httpx.get(f"{root}/stats", timeout=5).json()
    finally:
        process.terminate()
        process.wait(timeout=10)
    server_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = server_usage.ru_utime + server_usage.ru_stime
    load = os.getloadavg()[0]

    correct = sum(a == f"fake answer to: benchmark question {i}" for i, a in enumerate(answers))
    ideal = args.requests / args.concurrency * args.latency
    ratio = elapsed / ideal
    rows = [
        ("requests", f"{args.requests}"),
        ("concurrency limit", f"{args.concurrency}"),
        ("server latency", f"{args.latency * 1000:.0f} ms"),
        ("server max in flight", f"{stats['max_in_flight']}"),
        ("correct answers", f"{correct}/{args.requests}"),
        ("retries", f"{retries}"),
        ("ideal wall time", f"{ideal:.3f} s"),
        ("measured wall time", f"{elapsed:.3f} s"),
        ("client CPU time", f"{client_cpu:.2f} s ({client_cpu / args.requests * 1000:.2f} ms/req)"),
        ("client CPU / ideal wall", f"{client_cpu / ideal:.2f} (< 1: one free core keeps up)"),
        ("server CPU time", f"{server_cpu:.2f} s (whole server process)"),
        ("machine load (1 min)", f"{load:.1f} on {os.cpu_count()} cores"),
        ("throughput", f"{args.requests / elapsed:.0f} req/s"),
        ("ratio measured/ideal", f"{ratio:.3f} (target <= 1.2)"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"openai: backend concurrency ({platform.node()}, {platform.processor() or 'cpu'})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(
        json.dumps(
            {
                "benchmark": "http_concurrency",
                "requests": args.requests,
                "concurrency": args.concurrency,
                "latency_s": args.latency,
                "max_in_flight": stats["max_in_flight"],
                "correct": correct,
                "retries": retries,
                "ideal_s": round(ideal, 4),
                "measured_s": round(elapsed, 4),
                "ratio": round(ratio, 4),
                "client_cpu_s": round(client_cpu, 3),
                "client_cpu_per_ideal": round(client_cpu / ideal, 3),
                "server_cpu_s": round(server_cpu, 3),
                "load_1min": round(load, 2),
                "target": 1.2,
                "passed": bool(ratio <= 1.2 and correct == args.requests),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
