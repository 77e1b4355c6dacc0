"""Load on `clinlm serve`: throughput and latency with micro-batching and without, side by side.

    python3 benchmarks/serve_load.py                         # 8 and 32 clients, 10 s per row
    python3 benchmarks/serve_load.py --seconds 60 --notes whole --memory 20000 --overload

Two servers start on 127.0.0.1 (subprocesses of `python -m clinlm serve`, the shipped default
model): one with the defaults (micro-batching: ``--max-batch-tokens 8192 --max-wait-ms 5``) and one
with ``--max-batch-tokens 0`` (every note its own pipeline call). Both stay up; rows alternate
between them (batched, unbatched at 8 clients, then at 32), so drift in the machine's load hits
both alike. Each client is a coroutine that posts a note, waits for the answer and posts the next,
for ``--seconds`` (and at most ``--max-requests`` requests per row).

Notes come from MTS-Dialog (``../shared/data/mts_dialog``, CC BY 4.0): ``--notes sections`` posts
single note sections (a median of about 25 words, what an EHR integration sends per field);
``--notes whole`` posts whole visit notes strung from sections (benchmarks/whole_notes_build.py's
builder, 300-1,500 words). Printed per row: requests/s, words/s, p50/p95/p99 latency, the mean
notes per pipeline call (from /metrics), errors, and the server's words/s as a share of the same
pipeline's offline words/s (``pipe.pipe(notes, batch_size=32)``, what `clinlm annotate` runs,
measured in this run); then the batched/unbatched ratio per client count. ``--memory N`` sends every
note once to the batched server, then N more requests, and prints its resident memory (VmRSS) at
five checkpoints and its peak (VmHWM) before and after. ``--overload`` sends 4 x ``--max-queue`` clients at a third server whose queue
holds ``--max-queue`` notes: every answer must be 200 or 503 (with Retry-After), none an error.

The clients run in this process and share the CPU with the server: on a small machine they take
part of it. A benchmark, not a test: keep it out of CI (bounded: about 2 minutes by default).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "mts_dialog"
sys.path.insert(0, str(ROOT / "benchmarks"))


def load_notes(kind: str, n: int, seed: int = 7) -> list[str]:
    from whole_notes_build import build_note, read_sections

    if not SHARED.is_dir():
        sys.exit(f"MTS-Dialog not found at {SHARED}")
    by = read_sections(SHARED, ["MTS-Dialog-TrainingSet.csv", "MTS-Dialog-ValidationSet.csv"])
    rng = random.Random(seed)
    if kind == "whole":
        return [build_note(rng, by, f"n{i}")[0] for i in range(n)]
    sections = [t for texts in by.values() for t in texts if len(t.split()) >= 5]
    rng.shuffle(sections)
    return sections[:n]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of ``pid`` in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) // 1024
    return out


class Server:
    def __init__(self, name: str, *options: str):
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "clinlm", "serve", "--port", str(self.port),
                                      "--log-level", "warning", *options],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"server {self.name} exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        sys.exit(f"server {self.name} never became ready")

    def batch_stats(self) -> tuple[float, float]:
        """(sum, count) of clinlm_batch_notes so far."""
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        total = count = 0.0
        for family in text_string_to_metric_families(httpx.get(f"{self.base}/metrics", timeout=30).text):
            if family.name == "clinlm_batch_notes":
                for s in family.samples:
                    if s.name.endswith("_sum"):
                        total = s.value
                    elif s.name.endswith("_count"):
                        count = s.value
        return total, count

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def load(base: str, notes: list[str], clients: int, seconds: float, max_requests: int) -> dict:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    words = 0
    sent = 0
    retry_after_ok = True
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        async def worker(k: int) -> None:
            nonlocal words, sent, retry_after_ok
            i = k
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                text = notes[i % len(notes)]
                i += clients
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/annotate", json={"text": text})
                    status = r.status_code
                except httpx.HTTPError:
                    status = -1
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    latencies.append(time.perf_counter() - t0)
                    words += len(text.split())
                elif status == 503:
                    retry_after_ok &= "retry-after" in r.headers
                    await asyncio.sleep(float(r.headers.get("retry-after", 1)) / 10)

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")

    return {"ok": len(latencies), "statuses": statuses, "elapsed": elapsed, "rps": len(latencies) / elapsed,
            "wps": words / elapsed, "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
            "retry_after": retry_after_ok}


def offline_wps(notes: list[str], seconds: float) -> float:
    """Words/s of the pipeline `clinlm annotate` runs, in this process, on the same notes."""
    import clinlm

    pipe = clinlm.load()
    list(pipe.pipe(notes[:4]))  # warm-up (medspaCy, first forwards)
    words = 0
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds:
        chunk = notes[i:i + 32] or notes[:32]
        i += 32
        list(pipe.pipe(chunk, batch_size=32))
        words += sum(len(t.split()) for t in chunk)
    return words / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--seconds", type=float, default=10.0, help="per row")
    ap.add_argument("--rounds", type=int, default=1, help="alternations of the two servers per client count")
    ap.add_argument("--max-requests", type=int, default=100_000, help="per row")
    ap.add_argument("--notes", choices=("sections", "whole"), default="sections")
    ap.add_argument("--n-notes", type=int, default=400)
    ap.add_argument("--memory", type=int, default=0, help="requests for the memory check (0: skip)")
    ap.add_argument("--overload", action="store_true")
    ap.add_argument("--max-queue", type=int, default=16, help="queue of the overload server")
    args = ap.parse_args()

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    notes = load_notes(args.notes, args.n_notes)
    words = [len(t.split()) for t in notes]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown CPU")
    print(f"{len(notes)} MTS-Dialog {args.notes} notes, median {statistics.median(words):.0f} words; "
          f"{cpu}, {os.cpu_count()} CPUs visible")

    servers = {"batched": Server("batched"), "unbatched": Server("unbatched", "--max-batch-tokens", "0")}
    overload = Server("overload", "--max-queue", str(args.max_queue)) if args.overload else None
    try:
        for s in [*servers.values(), *([overload] if overload else [])]:
            s.wait_ready()
        offline = offline_wps(notes, min(args.seconds, 15))
        print(f"offline pipe.pipe(batch_size=32): {offline:,.0f} words/s\n")
        print(f"{'mode':<10} {'clients':>7} {'req/s':>7} {'words/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
              f"{'notes/call':>10} {'errors':>6} {'of offline':>10}")
        rows: dict[tuple[str, int], list[dict]] = {}
        for clients, _ in ((c, r) for c in args.clients for r in range(args.rounds)):
            for name, server in servers.items():
                before = server.batch_stats()
                row = asyncio.run(load(server.base, notes, clients, args.seconds, args.max_requests))
                after = server.batch_stats()
                calls = after[1] - before[1]
                row["per_call"] = (after[0] - before[0]) / calls if calls else float("nan")
                rows.setdefault((name, clients), []).append(row)
                errors = sum(n for st, n in row["statuses"].items() if st != 200)
                print(f"{name:<10} {clients:>7} {row['rps']:>7.2f} {row['wps']:>8,.0f} {row['p50']:>8.0f} "
                      f"{row['p95']:>8.0f} {row['p99']:>8.0f} {row['per_call']:>10.2f} {errors:>6} "
                      f"{row['wps'] / offline:>10.0%}", flush=True)
        print()
        for clients in args.clients:
            b, u = rows[("batched", clients)], rows[("unbatched", clients)]
            ratios = [x["wps"] / y["wps"] for x, y in zip(b, u)]
            b_wps, u_wps = (statistics.mean(r["wps"] for r in rs) for rs in (b, u))
            print(f"{clients} clients: micro-batching / none = {b_wps / u_wps:.2f}x words/s "
                  f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}), "
                  f"p95 {statistics.mean(r['p95'] for r in b):.0f} vs {statistics.mean(r['p95'] for r in u):.0f} ms, "
                  f"server at {b_wps / offline:.0%} of offline words/s")
        if args.memory:
            # first every note once (spaCy's string store and the allocator grow with new words), then
            # --memory requests over the same notes, resident memory at five checkpoints
            server = servers["batched"]
            asyncio.run(load(server.base, notes, 8, 10 ** 9, len(notes)))
            marks = [memory(server.proc.pid)]
            for _ in range(5):
                asyncio.run(load(server.base, notes, 8, 10 ** 9, args.memory // 5))
                marks.append(memory(server.proc.pid))
            rss = " -> ".join(str(m["VmRSS"]) for m in marks)
            print(f"\nmemory after one pass over the {len(notes)} notes, then every {args.memory // 5:,} of "
                  f"{args.memory:,} more requests: RSS {rss} MiB ({marks[-1]['VmRSS'] / marks[0]['VmRSS'] - 1:+.1%}), "
                  f"peak {marks[0]['VmHWM']} -> {marks[-1]['VmHWM']} MiB")
        if overload is not None:
            row = asyncio.run(load(overload.base, notes, 4 * args.max_queue, args.seconds, args.max_requests))
            others = {st: n for st, n in row["statuses"].items() if st not in (200, 503)}
            print(f"\noverload ({4 * args.max_queue} clients, queue {args.max_queue}): {row['statuses'].get(200, 0)} "
                  f"answered, {row['statuses'].get(503, 0)} refused with 503 (Retry-After on each: "
                  f"{row['retry_after']}), other statuses {others or 'none'}; server alive: {overload.proc.poll() is None}")
    finally:
        for s in [*servers.values(), *([overload] if overload else [])]:
            s.stop()


if __name__ == "__main__":
    main()
