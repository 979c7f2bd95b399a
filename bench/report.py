"""Print saved results again as Markdown tables: ``python -m bench.report RESULTS.json …``.

Several files are merged (a later run's scenario replaces an earlier one with the same name
and server), so a full run can be completed piecewise with ``bench.run --only``. Rows keep
the floor ratio of their own group; a second table lists the noise indicators of each row.
"""

import argparse
from typing import Any

from bench.plots import load
from bench.run import table


def noise_table(results: list[dict[str, Any]]) -> str:
    head = (
        "| scenario | server | server CPU mean/p95 (cores) | server CPU ms/msg "
        "| whole machine busy (cores) | generator CPU (share of a core, per process) "
        "| RSS connected MB |"
    )
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in results:
        gens = ", ".join(f"{g:.2f}" for g in r["gen_cpu_load"])
        lines.append(
            f"| {r['scenario']['name']} | {r['label']} | {r['server_cpu_mean']:.2f}/"
            f"{r['server_cpu_p95']:.2f} | {r['server_cpu_ms_per_msg']} "
            f"| {r['machine_busy_cores']} | {gens} | {r['rss_connected_mb']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--noise", action="store_true", help="also print the noise table")
    args = parser.parse_args()
    results = load(args.files)
    order = {"steady": 0, "burst": 1, "storm": 2}
    results.sort(
        key=lambda r: (
            order.get(r["scenario"]["mode"], 3),
            r["scenario"]["sessions"],
            ("floor", "socketio", "backchannel").index(r["scenario"]["target"]),
        )
    )
    print(table(results))
    if args.noise:
        print()
        print(noise_table(results))


if __name__ == "__main__":
    main()
