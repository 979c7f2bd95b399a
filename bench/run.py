"""Run benchmark scenarios and print a table: ``python -m bench.run --quick|--full``.

Each scenario starts a fresh server (Backchannel, the floor relay or the Socket.IO relay),
creates the sessions, starts load-generator processes (``bench.loadgen``), watches the
server's CPU and memory with psutil, and merges what the generators measured. Results go
to ``bench/results/<stamp>.json``; ``--plots DIR`` draws PNGs from them (``bench.plots``).
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.limits import raise_nofile
from bench.stats import pct, summarize

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def ensure_bench_deps() -> None:
    """psutil (and matplotlib for plots) come with the ``bench`` extra; install if missing."""
    try:
        import matplotlib  # noqa: F401
        import psutil  # noqa: F401
    except ImportError:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-e", f"{ROOT}[bench]"], check=True
        )


@dataclass
class Scenario:
    name: str
    target: str  # backchannel | floor | socketio
    sessions: int
    mode: str = "steady"  # steady | burst | storm
    duration_s: float = 20
    interval_s: float = 2.0
    db: str = "sqlite"
    broker: str = "memory"
    workers: int = 1
    procs: int = 1
    rounds: int = 3
    group: str = ""  # scenarios of one group are compared with the group's floor
    env: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.target != "backchannel":
            return self.target
        w = f" x{self.workers}" if self.workers > 1 else ""
        return f"backchannel {self.db}/{self.broker}{w}"


class Monitor:
    """Samples the server's CPU (all its processes) every half second in a thread."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.samples: list[float] = []
        self.machine: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = 0
        for p in self.target.processes():
            with contextlib.suppress(Exception):
                total += p.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self.target.processes():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except Exception:
                pass
        return total

    def _run(self) -> None:
        import psutil

        psutil.cpu_percent()
        last_t, last_c = time.monotonic(), self.cpu_seconds()
        while not self._stop.wait(0.5):
            t, c = time.monotonic(), self.cpu_seconds()
            self.samples.append((c - last_c) / (t - last_t))
            # The whole machine, in cores: what the server and generators did not use was
            # other people's work on this shared box (noise).
            self.machine.append(psutil.cpu_percent() / 100 * (psutil.cpu_count() or 1))
            last_t, last_c = t, c

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


APP_ROOT: Path | None = None  # --app-root: serve Backchannel from another checkout
DRAIN_S = 30.0  # --drain: how long the generators wait for everything to arrive


def make_target(sc: Scenario, workdir: Path) -> Any:
    from bench.targets import Backchannel, Floor, SocketIO

    if sc.target == "floor":
        return Floor(workdir)
    if sc.target == "socketio":
        return SocketIO(workdir)
    return Backchannel(
        workdir, db=sc.db, broker=sc.broker, workers=sc.workers, env=sc.env, app_root=APP_ROOT
    )


def _profile(target: Any, sc: Scenario, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on the server for the load phase (collapsed stacks, for flame graphs)."""
    if sc.target == "socketio" or target.proc is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    name = f"{sc.name}-{sc.label.replace(' ', '_').replace('/', '-')}"
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(target.proc.pid),
            "--duration",
            str(int(sc.duration_s)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--gil",  # only samples holding the GIL: where the CPU goes, not where it waits
            "--output",
            str(out / f"{name}.txt"),
            "--nonblocking",
            *(["--subprocesses"] if sc.workers > 1 else []),  # the workers, not the supervisor
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_scenario(sc: Scenario, workdir: Path, profile_dir: Path | None = None) -> dict[str, Any]:
    target = make_target(sc, workdir)
    t0 = time.monotonic()
    target.start()
    gens: list[subprocess.Popen[str]] = []
    try:
        mon = Monitor(target)
        time.sleep(0.5)
        rss_start = mon.rss()
        sessions = asyncio.run(target.create_sessions(sc.sessions))
        create_s = time.monotonic() - t0
        time.sleep(0.5)
        rss_base = mon.rss()
        procs = max(1, min(sc.procs, sc.sessions))
        cpu_c0 = mon.cpu_seconds()
        for k in range(procs):
            plan = {
                "url": target.ws_url,
                "dialect": target.dialect,
                "sessions": sessions[k::procs],
                "mode": sc.mode,
                "duration_s": sc.duration_s,
                "interval_s": sc.interval_s,
                "rounds": sc.rounds,
                "drain_s": DRAIN_S,
            }
            path = workdir / f"plan-{target.port}-{k}.json"
            path.write_text(json.dumps(plan))
            gens.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.loadgen", str(path)],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        connected = [_expect(g, "connected") for g in gens]
        connect_cpu = mon.cpu_seconds() - cpu_c0
        # A welcome is sent before the server's own work for the socket is over (presence
        # is logged and fanned out after it): start the load once the server is idle again.
        settle_s = _settle(mon)
        time.sleep(1)
        rss_connected = mon.rss()
        mon.start()
        spy = _profile(target, sc, profile_dir) if profile_dir else None
        for g in gens:
            assert g.stdin is not None
            g.stdin.write("go\n")
            g.stdin.flush()
        results = [_expect(g, "result") for g in gens]
        mon.stop()
        load_cpu = sum(mon.samples) * 0.5
        if spy is not None:
            spy.wait(60)
        rss_end = mon.rss()
    finally:
        for g in gens:
            if g.poll() is None:
                g.kill()
            g.wait()
        target.stop()
    sockets = 3 * sc.sessions
    merged = _merge(results)
    load_s = max(r["load_wall_s"] for r in results)
    cpu = sorted(mon.samples)
    return {
        "scenario": asdict(sc),
        "label": sc.label,
        "sockets": sockets,
        "create_s": round(create_s, 2),
        "connect_wall_ms": max(c["wall_ms"] for c in connected),
        "connect": summarize(merged["connect_ms"]),
        "connect_server_cpu_s": round(connect_cpu, 2),
        "settle_s": settle_s,
        "sent": summarize(merged["sent_ms"]),
        "fac": summarize(merged["fac_ms"]),
        "fac_timeline": _merge_timelines([r.get("fac_timeline", []) for r in results]),
        "reconnect": summarize(merged["reconnect_ms"]),
        "all_back_ms": max((r.get("all_back_ms", 0) for r in results), default=0),
        "sends": merged["sends"],
        "resends": merged["resends"],
        "acked": merged["acked"],
        "repeats": merged["repeats"],
        "throughput": round(merged["acked"] / load_s, 1) if load_s else 0,
        "errors": merged["errors"],
        "lost": merged["lost"],
        "unacked": merged["unacked"],
        "duplicates": merged["duplicates"],
        "out_of_order": merged["out_of_order"],
        "drain_ms": max(r["drain_ms"] for r in results),
        "server_cpu_ms_per_msg": round(load_cpu * 1000 / merged["acked"], 3)
        if merged["acked"]
        else 0,
        "server_cpu_mean": round(sum(cpu) / len(cpu), 3) if cpu else 0,
        "server_cpu_p95": round(pct(cpu, 95), 3) if cpu else 0,
        "rss_start_mb": round(rss_start / 2**20, 1),
        "rss_base_mb": round(rss_base / 2**20, 1),
        "rss_connected_mb": round(rss_connected / 2**20, 1),
        "rss_end_mb": round(rss_end / 2**20, 1),
        "kb_per_socket": round((rss_connected - rss_base) / 1024 / sockets, 1),
        "machine_busy_cores": round(sum(mon.machine) / len(mon.machine), 2) if mon.machine else 0,
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "gen_procs": procs,
        "gen_cpu_load": [round(r["gen_cpu_load"], 3) for r in results],
    }


def _settle(mon: Monitor, idle_cores: float = 0.15, limit_s: float = 120) -> float:
    """Wait until the server uses less than ``idle_cores`` over a second; return the wait."""
    t0 = last_t = time.monotonic()
    last_c = mon.cpu_seconds()
    while time.monotonic() - t0 < limit_s:
        time.sleep(1)
        t, c = time.monotonic(), mon.cpu_seconds()
        if (c - last_c) / (t - last_t) < idle_cores:
            break
        last_t, last_c = t, c
    return round(time.monotonic() - t0, 1)


def _expect(gen: subprocess.Popen[str], word: str) -> dict[str, Any]:
    assert gen.stdout is not None
    for line in gen.stdout:
        if line.startswith(word + " "):
            return dict(json.loads(line[len(word) + 1 :]))
    raise RuntimeError(f"load generator ended without '{word}' (exit {gen.wait()})")


def _merge_timelines(timelines: list[list[list[float]]]) -> list[list[float]]:
    """[start s, max ms, count] buckets of several generators, combined."""
    out: dict[float, list[float]] = {}
    for tl in timelines:
        for start, worst, n in tl:
            b = out.setdefault(start, [0.0, 0])
            b[0] = max(b[0], worst)
            b[1] += n
    return [[k, v[0], v[1]] for k, v in sorted(out.items())]


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"errors": {}}
    for key in ("connect_ms", "sent_ms", "fac_ms", "reconnect_ms"):
        out[key] = [x for r in results for x in r[key]]
    for key in ("sends", "acked", "repeats", "lost", "unacked", "duplicates", "out_of_order"):
        out[key] = sum(r[key] for r in results)
    out["resends"] = sum(r.get("resends", 0) for r in results)
    for r in results:
        for k, v in r["errors"].items():
            out["errors"][k] = out["errors"].get(k, 0) + v
    return out


# -- scenarios ------------------------------------------------------------------------------


def profile() -> list[Scenario]:
    """The hot path under a steady load the server keeps up with."""
    return [Scenario("profile-300", "backchannel", 300, duration_s=20, procs=1, group="p")]


def quick() -> list[Scenario]:
    out: list[Scenario] = []
    for n in (10, 100):
        for t in ("floor", "socketio", "backchannel"):
            out.append(Scenario(f"steady-{n}", t, n, duration_s=12, group=f"steady-{n}"))
    for t in ("floor", "backchannel"):
        out.append(Scenario("burst-100", t, 100, mode="burst", rounds=3, group="burst-100"))
        out.append(Scenario("storm-100", t, 100, mode="storm", duration_s=12, group="storm-100"))
    return out


def full() -> list[Scenario]:
    from bench.targets import postgres_available, redis_available

    out: list[Scenario] = []
    for n in (10, 100, 1000, 5000):
        procs = 1 if n <= 100 else 2
        dur = 30 if n <= 1000 else 40
        for t in ("floor", "socketio", "backchannel"):
            out.append(
                Scenario(f"steady-{n}", t, n, duration_s=dur, procs=procs, group=f"steady-{n}")
            )
    # The scale-out shapes at 1,000 sessions, and the shape for more than one process can
    # carry (PostgreSQL + Redis, two processes) at 5,000, where their services run here.
    shapes = [
        (1000, "postgres", "memory", 1),
        (1000, "sqlite", "redis", 2),
        (1000, "postgres", "redis", 2),
        (5000, "postgres", "redis", 2),
    ]
    for n, db, broker, workers in shapes:
        if (db == "postgres" and not postgres_available()) or (
            broker == "redis" and not redis_available()
        ):
            continue
        out.append(
            Scenario(
                f"steady-{n}",
                "backchannel",
                n,
                duration_s=30 if n <= 1000 else 40,
                procs=2,
                db=db,
                broker=broker,
                workers=workers,
                group=f"steady-{n}",
            )
        )
    for t in ("floor", "socketio", "backchannel"):
        out.append(
            Scenario("burst-1000", t, 1000, mode="burst", rounds=3, procs=2, group="burst-1000")
        )
    for t in ("floor", "socketio", "backchannel"):
        out.append(
            Scenario(
                "storm-1000", t, 1000, mode="storm", duration_s=30, procs=2, group="storm-1000"
            )
        )
    return out


# -- output ---------------------------------------------------------------------------------


def table(results: list[dict[str, Any]]) -> str:
    """A Markdown table; ratios are to the floor of the same group in the same run."""
    floors = {r["scenario"]["group"]: r for r in results if r["scenario"]["target"] == "floor"}
    head = (
        "| scenario | server | sockets | msgs | msg/s | sent p50/p99 ms | fac p50/p95/p99/max ms "
        "| fac p99 ÷ floor | lost/dup/ooo | unacked/errors | conn all s | back s | CPU | KB/socket |"
    )
    lines = [head, "|" + "|".join("---" for _ in range(head.count("|") - 1)) + "|"]
    for r in results:
        floor = floors.get(r["scenario"]["group"])
        ratio = "-"
        if floor is not None and floor["fac"]["p99"]:
            ratio = f"{r['fac']['p99'] / floor['fac']['p99']:.2f}"
        f = r["fac"]
        errors = sum(r["errors"].values())
        back = f"{r['all_back_ms'] / 1000:.1f}" if r["all_back_ms"] else "-"
        lines.append(
            f"| {r['scenario']['name']} | {r['label']} | {r['sockets']} | {r['acked']} "
            f"| {r['throughput']} | {r['sent']['p50']}/{r['sent']['p99']} "
            f"| {f['p50']}/{f['p95']}/{f['p99']}/{f['max']} | {ratio} "
            f"| {r['lost']}/{r['duplicates']}/{r['out_of_order']} | {r['unacked']}/{errors} "
            f"| {r['connect_wall_ms'] / 1000:.1f} | {back} | {r['server_cpu_mean']:.2f} "
            f"| {r['kb_per_socket']} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    import psutil

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "commit": commit,
        "command": "python -m bench.run " + " ".join(sys.argv[1:]),
    }


def main() -> None:
    global APP_ROOT, DRAIN_S
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="under 3 minutes (default)")
    mode.add_argument("--full", action="store_true", help="every scenario (about 30 minutes)")
    parser.add_argument("--only", help="run only scenarios whose name contains this")
    parser.add_argument("--target", help="run only this target (floor, socketio, backchannel)")
    parser.add_argument(
        "--server",
        help="run only servers whose label contains this (e.g. sqlite/memory); several,"
        " comma-separated, run those (floor,postgres/memory: the floor paired with one shape)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=DRAIN_S,
        help="seconds to wait after the load for every message to be acked and delivered",
    )
    parser.add_argument("--plots", help="write PNG plots into this directory")
    parser.add_argument("--profile", help="py-spy the server during each load phase into DIR")
    parser.add_argument("--out", help="results file (default bench/results/<stamp>.json)")
    parser.add_argument(
        "--app-root",
        help="serve Backchannel's app package from this directory (e.g. `git archive OLD app`"
        " unpacked there) to measure before/after in the same conditions",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        help="KEY=VALUE for Backchannel's servers (repeatable), e.g. BACKCHANNEL_GC_FREEZE=false",
    )
    args = parser.parse_args()
    DRAIN_S = args.drain
    APP_ROOT = Path(args.app_root).resolve() if args.app_root else None

    ensure_bench_deps()
    raise_nofile()
    # A SIGTERM (timeout, Ctrl-C from make) unwinds normally, so servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from bench.targets import ensure_socketio

    scenarios = full() if args.full else quick()
    if args.profile and not args.full and not args.only:
        scenarios = profile()
    if not ensure_socketio():
        print("npm/node not available: skipping the Socket.IO relay", file=sys.stderr)
        scenarios = [s for s in scenarios if s.target != "socketio"]
    if args.only:
        scenarios = [s for s in scenarios if args.only in s.name]
    if args.target:
        scenarios = [s for s in scenarios if s.target == args.target]
    if args.server:
        wanted = [w for w in args.server.split(",") if w]
        scenarios = [s for s in scenarios if any(w in s.label for w in wanted)]
    extra_env = dict(kv.split("=", 1) for kv in args.env)
    for sc in scenarios:
        sc.env.update(extra_env)
    info = machine()
    print(f"{info['date']} · {info['cores']} cores · {info['ram_gb']} GB · commit {info['commit']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / time.strftime("%Y%m%d-%H%M%S.json")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-", dir=RESULTS) as tmp:
        for sc in scenarios:
            t0 = time.monotonic()
            print(f"… {sc.name} {sc.label} ({sc.sessions} sessions)", flush=True)
            try:
                r = run_scenario(sc, Path(tmp), Path(args.profile) if args.profile else None)
            except Exception as exc:
                print(f"   failed: {exc}", flush=True)
                continue
            r["elapsed_s"] = round(time.monotonic() - t0, 1)
            results.append(r)
            print(
                f"   fac p99 {r['fac']['p99']} ms, {r['throughput']} msg/s, lost {r['lost']}, "
                f"errors {sum(r['errors'].values())}, {r['elapsed_s']} s",
                flush=True,
            )
            out.write_text(json.dumps({"machine": info, "results": results}, indent=1))
    print()
    print(table(results))
    print(f"\nresults: {out}")
    if args.plots:
        from bench.plots import draw

        draw(results, Path(args.plots))
    bad = [r for r in results if r["lost"] or r["duplicates"] or r["out_of_order"]]
    if bad:
        print("LOSS, DUPLICATES OR DISORDER in: " + ", ".join(r["label"] for r in bad))
        sys.exit(1)


if __name__ == "__main__":
    main()
