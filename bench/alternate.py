"""Before/after on a noisy machine: versions of the app measured in turn, several rounds.

    python -m bench.alternate --server sqlite/memory --rounds 3 before=/work/before after=.

Each round runs the floor, then one ``bench.run --full --only SCENARIO --target backchannel
--server SERVER --app-root DIR`` per version, in the order given. A single 30-s run's p99
moves by half between runs of the same code here (other work on the VM, PostgreSQL's
checkpoints); alternating puts every version through the same drift, and the rounds show
how far each figure moves. Results go to OUT/<label>_<round>.json (``bench.report`` reads
them); the table printed at the end has one row per run.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _run(scenario: str, out: Path, extra: list[str], again: bool) -> dict[str, Any] | None:
    if not again:
        command = [sys.executable, "-m", "bench.run", "--full", "--only", scenario]
        command += ["--out", str(out), *extra]
        subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
    if not out.exists():
        return None
    results: list[dict[str, Any]] = json.loads(out.read_text())["results"]
    return results[0] if results else None


def _row(label: str, n: int, r: dict[str, Any] | None, floor: dict[str, Any] | None) -> str:
    if r is None:
        return f"| {n} | {label} | failed | | | | | |"
    fac = r["fac"]
    ratio = f"{fac['p99'] / floor['fac']['p99']:.1f}" if floor else "-"
    lost = f"{r['lost']}/{r['duplicates']}/{r['out_of_order']}"
    return (
        f"| {n} | {label} | {fac['p50']}/{fac['p95']}/{fac['p99']} | {ratio} | {lost} "
        f"| {r['server_cpu_ms_per_msg']} | {r['kb_per_socket']} | {r['machine_busy_cores']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("versions", nargs="+", help="LABEL=APP_ROOT (the directory holding app/)")
    parser.add_argument("--server", default="sqlite/memory", help="the Backchannel shape")
    parser.add_argument("--scenario", default="steady-1000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=f"bench/results/alternate-{time.strftime('%H%M%S')}")
    parser.add_argument(
        "--again", action="store_true", help="only print the table of the results in OUT"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    versions = [v.split("=", 1) for v in args.versions]
    lines = [
        "| round | version | fac p50/p95/p99 ms | p99 ÷ floor | lost/dup/ooo | CPU ms/msg "
        "| KB/socket | machine busy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in range(1, args.rounds + 1):
        floor = _run(args.scenario, out / f"floor_{n}.json", ["--target", "floor"], args.again)
        lines.append(_row("floor", n, floor, floor))
        for label, root in versions:
            extra = ["--target", "backchannel", "--server", args.server]
            extra += ["--app-root", str(Path(root).resolve())]
            r = _run(args.scenario, out / f"{label}_{n}.json", extra, args.again)
            lines.append(_row(label, n, r, floor))
            if not args.again:
                print(lines[-1], flush=True)
    print(f"\n{args.scenario}, {args.server}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
