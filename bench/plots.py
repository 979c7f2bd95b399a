"""PNG plots of benchmark results (matplotlib, Agg backend: no display needed).

``draw(results, outdir)`` is what ``bench.run --plots DIR`` calls. To redraw from saved runs:
``python -m bench.plots RESULTS.json [MORE.json …] DIR`` (the runs are merged; a later run's
scenario replaces an earlier one with the same name and server), and
``python -m bench.plots --compare BEFORE.json AFTER.json DIR`` for a before/after figure.
"""

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use("Agg"): no display needed

DPI = 80  # small PNGs for the docs (well under 150 KB each)
COLORS = {
    "floor": "#7f7f7f",
    "socketio": "#1f77b4",
    "backchannel sqlite/memory": "#d62728",
    "backchannel postgres/memory": "#9467bd",
    "backchannel sqlite/redis x2": "#ff7f0e",
    "backchannel postgres/redis x2": "#2ca02c",
}


def _steady_series(results: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    rows = [
        r for r in results if r["label"] == label and r["scenario"]["name"].startswith("steady-")
    ]
    return sorted(rows, key=lambda r: r["scenario"]["sessions"])


def _labels(results: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for r in results:
        if r["label"] not in seen:
            seen.append(r["label"])
    return seen


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _per_server(
    results: list[dict[str, Any]],
    path: Path,
    draw_server: Callable[[Any, str, list[dict[str, Any]]], bool],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    target: tuple[float, str] | None = None,
    log_y: bool = False,
) -> Path | None:
    """One line plot with a series per server (log x); None when no server had data."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = [draw_server(ax, label, _steady_series(results, label)) for label in _labels(results)]
    if not any(drawn):
        plt.close(fig)
        return None
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if target is not None:
        value, text = target
        ax.axhline(value, color="black", lw=0.8, ls=":")
        ax.text(ax.get_xlim()[0], value, f" {text}", va="bottom", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def latency_vs_sessions(results: list[dict[str, Any]], path: Path) -> Path | None:
    """send→facilitator p50 (dashed) and p99 (solid) against concurrent sessions."""

    def draw_server(ax: Any, label: str, rows: list[dict[str, Any]]) -> bool:
        if len(rows) < 2:
            return False
        xs = [r["scenario"]["sessions"] for r in rows]
        color = COLORS.get(label)
        ax.plot(xs, [r["fac"]["p99"] for r in rows], "o-", color=color, label=f"{label} p99")
        ax.plot(xs, [r["fac"]["p50"] for r in rows], "o--", color=color, alpha=0.6)
        return True

    return _per_server(
        results,
        path,
        draw_server,
        xlabel="sessions (3 sockets each, 1 msg / 2 s per producer)",
        ylabel="send → facilitator, ms (p99 solid, p50 dashed)",
        title="Latency vs sessions",
        target=(25, "25 ms target"),
        log_y=True,
    )


def memory_per_socket(results: list[dict[str, Any]], path: Path) -> Path | None:
    """Server resident memory added per connected socket, against sockets."""

    def draw_server(ax: Any, label: str, rows: list[dict[str, Any]]) -> bool:
        rows = [r for r in rows if r["sockets"] >= 300]
        if not rows:
            return False
        xs = [r["sockets"] for r in rows]
        ax.plot(xs, [r["kb_per_socket"] for r in rows], "o-", color=COLORS.get(label), label=label)
        return True

    return _per_server(
        results,
        path,
        draw_server,
        xlabel="connected sockets",
        ylabel="server RSS per socket, KB",
        title="Memory per socket",
        target=(40, "40 KB target"),
    )


def cpu_per_message(results: list[dict[str, Any]], path: Path) -> Path | None:
    """Server CPU per acknowledged message (all server processes), against sessions."""

    def draw_server(ax: Any, label: str, rows: list[dict[str, Any]]) -> bool:
        if len(rows) < 2:
            return False
        xs = [r["scenario"]["sessions"] for r in rows]
        ys = [r["server_cpu_ms_per_msg"] for r in rows]
        ax.plot(xs, ys, "o-", color=COLORS.get(label), label=label)
        return True

    return _per_server(
        results,
        path,
        draw_server,
        xlabel="sessions",
        ylabel="server CPU ms per message (incl. fan-out to 3 sockets)",
        title="Server CPU per message",
    )


def scenario_bars(results: list[dict[str, Any]], path: Path) -> Path | None:
    """p99 per server for the groups with more than one server (1,000 sessions, burst, storm)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(r["scenario"]["group"] or r["scenario"]["name"], []).append(r)
    groups = {
        g: rows
        for g, rows in groups.items()
        if len(rows) > 1 and rows[0]["scenario"]["sessions"] >= 1000
    }
    if not groups:
        return None
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups) + 1, 4.2), squeeze=False)
    for ax, (group, rows) in zip(axes[0], groups.items(), strict=True):
        names = [r["label"].replace("backchannel ", "bc ") for r in rows]
        ys = [max(r["fac"]["p99"], 0.01) for r in rows]
        colors = [COLORS.get(r["label"], "#555555") for r in rows]
        ax.bar(range(len(rows)), ys, color=colors)
        ax.set_xticks(range(len(rows)), names, rotation=40, ha="right", fontsize=7)
        ax.set_yscale("log")
        ax.set_title(group, fontsize=9)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylabel("send → facilitator p99, ms")
    return _save(fig, path)


def timeline(results: list[dict[str, Any]], path: Path) -> Path | None:
    """Worst send → facilitator latency per half second of the load, steady scenarios."""
    rows = [
        r
        for r in results
        if r.get("fac_timeline")
        and r["scenario"]["name"].startswith("steady-")
        and r["scenario"]["sessions"] >= 1000
        and r["scenario"]["workers"] == 1
    ]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in rows:
        xs = [b[0] for b in r["fac_timeline"]]
        ys = [max(b[1], 0.1) for b in r["fac_timeline"]]
        name = f"{r['label']}, {r['scenario']['sessions']} sessions"
        style = "-" if r["scenario"]["sessions"] == 1000 else "--"
        ax.plot(xs, ys, style, color=COLORS.get(r["label"]), label=name, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("seconds into the load")
    ax.set_ylabel("worst send → facilitator per 0.5 s, ms")
    ax.axhline(25, color="black", lw=0.8, ls=":")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Latency over time (stalls show as spikes)")
    return _save(fig, path)


def compare(before: list[dict[str, Any]], after: list[dict[str, Any]], path: Path) -> Path | None:
    """Backchannel p99 and CPU per message, before vs after, for scenarios in both runs."""
    keyed = {(r["scenario"]["name"], r["label"]): r for r in before}
    pairs = [
        (keyed[(r["scenario"]["name"], r["label"])], r)
        for r in after
        if r["scenario"]["target"] == "backchannel" and (r["scenario"]["name"], r["label"]) in keyed
    ]
    if not pairs:
        return None
    names = [f"{a['scenario']['name']} {a['label'].replace('backchannel ', '')}" for a, _ in pairs]
    xs = list(range(len(pairs)))
    w = 0.4
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(min(12, max(7, 1.7 * len(pairs))), 4.6))
    ax1.bar([x - w / 2 for x in xs], [b["fac"]["p99"] for b, _ in pairs], w, label="before")
    ax1.bar([x + w / 2 for x in xs], [a["fac"]["p99"] for _, a in pairs], w, label="after")
    ax1.set_yscale("log")
    ax1.set_ylabel("send → facilitator p99, ms")
    ax2.bar([x - w / 2 for x in xs], [b["server_cpu_ms_per_msg"] for b, _ in pairs], w)
    ax2.bar([x + w / 2 for x in xs], [a["server_cpu_ms_per_msg"] for _, a in pairs], w)
    ax2.set_yscale("log")
    ax2.set_ylabel("server CPU ms per acknowledged message")
    for ax in (ax1, ax2):
        ax.set_xticks(xs, names, fontsize=6, rotation=45, ha="right")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle("Backchannel before / after the hot-path changes", fontsize=10)
    return _save(fig, path)


def draw(results: list[dict[str, Any]], outdir: Path) -> list[Path]:
    """Every plot the results allow; returns the files written."""
    outdir.mkdir(parents=True, exist_ok=True)
    made = [
        latency_vs_sessions(results, outdir / "latency_vs_sessions.png"),
        memory_per_socket(results, outdir / "memory_per_socket.png"),
        cpu_per_message(results, outdir / "cpu_per_message.png"),
        scenario_bars(results, outdir / "p99_by_scenario.png"),
        timeline(results, outdir / "timeline.png"),
    ]
    written = [p for p in made if p is not None]
    for p in written:
        print(f"plot: {p} ({p.stat().st_size // 1024} KB)")
    return written


def load(paths: list[str]) -> list[dict[str, Any]]:
    """Results of several runs, merged in order; a later (scenario, server) replaces one."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for path in paths:
        for r in json.loads(Path(path).read_text())["results"]:
            merged[(r["scenario"]["name"], r["label"])] = r
    return list(merged.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compare", action="store_true", help="BEFORE.json AFTER.json DIR")
    parser.add_argument("files", nargs="+", help="results JSON files, then the output directory")
    args = parser.parse_args()
    *inputs, outdir = args.files
    if not inputs:
        parser.error("give at least one results file and an output directory")
    out = Path(outdir)
    if args.compare:
        if len(inputs) != 2:
            parser.error("--compare takes BEFORE.json AFTER.json DIR")
        out.mkdir(parents=True, exist_ok=True)
        made = compare(load(inputs[:1]), load(inputs[1:]), out / "before_after.png")
        print(f"plot: {made}" if made else "nothing in common to compare")
        return
    draw(load(inputs), out)


if __name__ == "__main__":
    main()
