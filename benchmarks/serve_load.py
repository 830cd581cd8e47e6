"""Load test of ``POST /v1/predict``: N concurrent clients against a server on 127.0.0.1 for T seconds.

Starts the service itself (``artlens serve`` in a subprocess, built-in style model, loopback only), sends real
paintings from ``shared/artdata/aic_periods`` from N client threads (httpx, keep-alive), and prints
requests/s, p50/p99 latency and the error count (anything but a 200 is an error; it must be 0).
Run it with micro-batching on (default) and off (``--max-batch 1``) to see what batching buys.

    python benchmarks/serve_load.py [--clients 8 --seconds 20 --max-batch 16]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from _common import ARTDATA


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(*options: str):
    """``artlens serve`` on a free loopback port, in its own process (clients here do not share its GIL)."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "artlens", "serve", "--host", "127.0.0.1", "--port", str(port),
                             *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start (exit code {proc.poll()})")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def client_loop(url: str, images: list[bytes], stop_at: float, offset: int, latencies: list[float],
                errors: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        i = offset
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            try:
                r = http.post("/v1/predict", files={"file": ("p.jpg", images[i % len(images)], "image/jpeg")})
                if r.status_code != 200:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as err:
                errors.append(repr(err))
            latencies.append(time.perf_counter() - start)
            i += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--max-batch", type=int, default=16, help="1 = no micro-batching")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    files = sorted((ARTDATA / "aic_periods").rglob("*.jpg"))[: args.images]
    images = [Path(p).read_bytes() for p in files]
    with served("--max-batch", str(args.max_batch), "--device", args.device) as url:
        with httpx.Client(base_url=url, timeout=60) as http:  # warm-up: first batch, allocator, threads
            for img in images[:4]:
                http.post("/v1/predict", files={"file": ("p.jpg", img, "image/jpeg")}).raise_for_status()
        latencies: list[float] = []
        errors: list[str] = []
        start = time.perf_counter()
        threads = [threading.Thread(target=client_loop, args=(url, images, start + args.seconds, k * 7, latencies,
                                                              errors)) for k in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        health = httpx.get(f"{url}/healthz").json()

    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000
    mean_batch = next(iter(health["batching"].values()))["mean_batch"]
    print(f"{args.clients} clients, {args.seconds:.0f} s, {len(images)} aic_periods paintings (<= 512 px), "
          f"max batch {args.max_batch}, device {health['device']}")
    print(f"requests/s: {len(lat) / elapsed:.1f}   p50: {p50:.0f} ms   p99: {p99:.0f} ms   "
          f"errors: {len(errors)}   mean batch: {mean_batch:.1f}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other work skews the numbers)")
    for e in errors[:5]:
        print("  error:", e)
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
