"""The log's append path alone, in one process: ``python bench/appends.py --db postgres``.

No sockets and no fan-out: N sessions on a fresh database, one producer per session that
appends a ``prompt.time`` every ``--interval`` seconds (random phase) for ``--duration``
seconds through ``app.log.append_event``, the call the WebSocket handler makes before it
answers ``sent``. Latency is measured from each append's *scheduled* time to its return (the
commit), so a backlog counts in full. Prints appends/s, latency p50/p95/p99/max, this
process's CPU per append, and the whole machine's busy cores and load (the noise).

``--app-root DIR`` imports ``app`` from DIR (another checkout) for before/after runs; the
script only uses calls both sides have (``Database``, ``create_session``, ``append_event``).
Run it as a file (not ``-m``), so that ``bench`` itself is not taken from DIR.
"""

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.targets import _pg_admin

ROOT = Path(__file__).resolve().parent.parent


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(url: str, sessions: int, interval: float, duration: float) -> dict[str, Any]:
    import psutil

    from app.db import Database
    from app.log import Author, append_event
    from app.models.session import SessionCreate
    from app.sessions import create_session

    db = Database(url)
    try:
        authors = []
        for i in range(sessions):
            created = await create_session(db, SessionCreate(title=f"appends {i}"), [])
            producer = created.issued["producer"].participant
            authors.append((created.session.id, Author(producer.id, "producer", "Producer")))
        published = 0

        async def publish(_event: Any) -> None:
            nonlocal published
            published += 1

        latencies: list[float] = []
        errors: dict[str, int] = {}
        start = time.perf_counter() + 0.5
        end = start + duration

        async def producer(sid: str, who: Author) -> None:
            due = start + random.uniform(0, interval)
            n = 0
            while due < end:
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    await append_event(
                        db, sid, who, "prompt.time", {"text": f"m{n}"}, after_commit=publish
                    )
                    latencies.append((time.perf_counter() - due) * 1000)
                except Exception as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                n += 1
                due += interval

        psutil.cpu_percent(None)
        cpu0 = time.process_time()
        await asyncio.gather(*(producer(sid, who) for sid, who in authors))
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        busy = psutil.cpu_percent(None) / 100 * (os.cpu_count() or 1)
        return {
            "appends": len(latencies),
            "published": published,
            "errors": errors,
            "per_s": round(len(latencies) / wall, 1),
            "p50": round(pct(latencies, 50), 2),
            "p95": round(pct(latencies, 95), 2),
            "p99": round(pct(latencies, 99), 2),
            "max": round(max(latencies, default=float("nan")), 2),
            "cpu_ms_per_append": round(cpu * 1000 / max(1, len(latencies)), 3),
            "machine_busy_cores": round(busy, 2),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--app-root", help="import app from this checkout")
    parser.add_argument("--label", default="", help="a name for this run in the output")
    parser.add_argument(
        "--lanes", type=int, help="set app.log.group.POSTGRES_LANES (if it has one)"
    )
    args = parser.parse_args()
    root = Path(args.app_root).resolve() if args.app_root else ROOT
    sys.path.insert(0, str(root))

    from app.cli import run_migrations

    if args.lanes is not None:
        import app.log.group

        app.log.group.POSTGRES_LANES = args.lanes  # type: ignore[attr-defined]

    with tempfile.TemporaryDirectory(prefix="appends-") as tmp:
        pg_name = None
        if args.db == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'appends.db'}"
        else:
            pg_name = f"bench_{uuid.uuid4().hex[:10]}"
            asyncio.run(_pg_admin(f'CREATE DATABASE "{pg_name}"'))
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg_name}"
        try:
            run_migrations(url)
            result = asyncio.run(run(url, args.sessions, args.interval, args.duration))
        finally:
            if pg_name is not None:
                asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    result = {
        "label": args.label,
        "db": args.db,
        "app_root": str(root),
        "sessions": args.sessions,
        "lanes": args.lanes,
        "offered_per_s": round(args.sessions / args.interval, 1),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        **result,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
