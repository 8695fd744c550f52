"""Throughput of the REST API on Ray Serve against the number of generation replicas.

    python -m bench.bench_ray                     # 1, 2, 4, 8 replicas on a local cluster
    python -m bench.bench_ray --replicas 1 2 --latency 0.5 --seconds 10

Each replica's engine is a stand-in (FixedLatencyEngine) that takes --latency seconds per generation
and makes no sound, so the figures measure the serving path alone (HTTP proxy, the ingress's routes,
the handle to a replica, Serve's routing and line) on this machine, not Bark. Clients (2 per replica,
over HTTP) keep every replica busy for --seconds; the ideal is replicas / latency requests a second.
A replica asleep needs no core, so 8 of them fit on a 2-core machine; the limit that shows first is
the ingress's and the proxy's CPU time per request.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import ray
from ray import serve

from core.constants import SAMPLE_RATE
from core.engine import Engine, EngineSettings, GenerationResult, SegmentResult
from core.options import GenerationOptions
from webui.ray_serve import APP_NAME, ClusterSettings, build_app

ROOT = Path(__file__).resolve().parents[1]
BODY = {"model": "bark", "input": "Hello there.", "voice": "none", "response_format": "pcm", "seed": 1}


class FixedLatencyEngine(Engine):
    """A stand-in engine: every generation takes LATENCY_S (asleep, no model) and gives 0.1 s of silence."""

    LATENCY_S = 1.0

    def generate(self, text, voice=None, options=None, progress=None, cancel=None, allow_paths=True, on_segment=None):
        options = options or GenerationOptions()
        time.sleep(self.LATENCY_S)
        audio = np.zeros(SAMPLE_RATE // 10, dtype=np.float32)
        empty = np.zeros((8, 0), dtype=np.int64)
        segment = SegmentResult(0, text, 0, np.zeros(0, np.int64), empty[:2], empty, audio, 1)
        if on_segment is not None:
            on_segment(segment)
        return GenerationResult(audio, SAMPLE_RATE, 0, text, None, options, (segment,), compute_s=self.LATENCY_S)


def engine_class(latency: float) -> str:
    """A FixedLatencyEngine of `latency` seconds, by name (the replicas import it)."""
    return f"bench.bench_ray:FixedLatency{int(latency * 1000)}ms"


def __getattr__(name: str):
    """bench.bench_ray:FixedLatency<N>ms, a FixedLatencyEngine that takes N milliseconds."""
    if name.startswith("FixedLatency") and name.endswith("ms"):
        return type(name, (FixedLatencyEngine,), {"LATENCY_S": int(name[12:-2]) / 1000})
    raise AttributeError(name)


def measure(url: str, clients: int, seconds: float) -> tuple[int, int, float]:
    """(answered 200, refused, elapsed s) with `clients` clients sending one request after another."""
    ok, refused, lock = [0], [0], threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while time.monotonic() < deadline:
                status = http.post("/v1/audio/speech", json=BODY).status_code
                with lock:
                    (ok if status == 200 else refused)[0] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ok[0], refused[0], time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per generation of the stand-in")
    parser.add_argument("--seconds", type=float, default=12.0, help="of load per replica count")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    ray.init(
        address="local",  # a new cluster, whatever `ray start` left running
        num_cpus=max(args.replicas) + 2,  # logical: a sleeping replica holds a slot, not a core
        include_dashboard=False,
        logging_level=logging.ERROR,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    serve.start(http_options={"host": "127.0.0.1", "port": args.port}, logging_config={"log_level": "WARNING"})
    url = f"http://127.0.0.1:{args.port}"
    rows = []
    try:
        for n in args.replicas:
            settings = ClusterSettings(
                engine=EngineSettings(device="cpu"), replicas=n, max_queue=64, engine_class=engine_class(args.latency)
            )
            serve.run(build_app(settings), name=APP_NAME, route_prefix="/")
            measure(url, 2 * n, 2 * args.latency)  # warm: every replica has served
            ok, refused, elapsed = measure(url, 2 * n, args.seconds)
            rate, ideal = ok / elapsed, n / args.latency
            rows.append((n, rate, ideal, refused))
            print(
                f"{n} replica(s): {rate:.2f} req/s (ideal {ideal:.2f}: {rate / ideal:.0%}), {refused} refused",
                flush=True,
            )
    finally:
        serve.shutdown()
        ray.shutdown()
    print("\n| replicas | requests/s | ideal (replicas / latency) | of ideal |\n|---|---|---|---|")
    for n, rate, ideal, _ in rows:
        print(f"| {n} | {rate:.2f} | {ideal:.2f} | {rate / ideal:.0%} |")


if __name__ == "__main__":
    main()
