"""Chart of tinyconv's per-layer speedups, from the JSON that ``run.py --json`` writes.

Usage::

    python bench/plot.py results.json -o chart.png [--peers torch,torch-CL,numpy]
    python bench/run.py --quick --threads 1,2 --plot chart.png     # the same, straight from a run

One horizontal bar chart per thread count, side by side: for every row of part "layers", the
speedup of tinyconv over each peer (``peer ms / tinyconv ms``, as in the table), forward and
forward+backward, on a log scale: bars grow from 1.0x, to the right where tinyconv is faster,
to the left where it is slower. A dashed line separates the convolution/pooling rows from the
activation rows. Rows where a peer is missing or failed its check have no bar for it.
matplotlib (3.7 or later) is optional: without it, :func:`save_chart` prints one line and the
benchmark goes on.
"""

import argparse
import json
import sys

PEERS = ("torch", "numpy")  # default series; run.py also records "torch-CL"
PASSES = ("fwd", "fwd+bwd")
# (fwd, fwd+bwd) colours per peer: light for the forward, dark for forward+backward.
COLOURS = {"torch": ("#9ecae1", "#2171b5"), "torch-CL": ("#a1d99b", "#238b45"),
           "numpy": ("#fdae6b", "#d94801")}
TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
NO_MATPLOTLIB = "no chart: matplotlib is not installed (pip install matplotlib)"


def speedups(data, peers=PEERS):
    """Part "layers" of ``run.py --json`` output (the whole dict, or its ``results`` list) as
    ``{threads: [(row, group, {(peer, pass): speedup})]}``, rows in the order they ran."""
    results = data["results"] if isinstance(data, dict) else data
    table = {}
    for r in results:
        if r.get("part") != "layers":
            continue
        rows = table.setdefault(r["threads"], {})
        _, _, ratios = rows.setdefault(r["layer"], (r["layer"], r.get("group"), {}))
        ms = r["median_ms"]
        for peer in peers:
            if ms.get("tinyconv") and ms.get(peer):
                ratios[(peer, r["pass"])] = ms[peer] / ms["tinyconv"]
    return {t: list(rows.values()) for t, rows in sorted(table.items())}


def _title(data):
    env = data.get("environment", {}) if isinstance(data, dict) else {}
    parts = [str(env[k]) for k in ("cpu",) if env.get(k)]
    parts += [f"{k} {env[k]}" for k in ("torch", "numpy", "git") if env.get(k)]
    return ("tinyconv speedup = peer ms / tinyconv ms (right of 1.0x: tinyconv faster)"
            + ("\n" + ", ".join(parts) if parts else ""))


def render(data, path, peers=PEERS):
    """Draw the chart of ``data`` (see :func:`speedups`) into ``path`` (format from its suffix,
    e.g. .png). Raises ImportError without matplotlib, ValueError when there is nothing to draw."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    table = speedups(data, peers)
    present = {k for rows in table.values() for _, _, rat in rows for k in rat}
    if not present:
        raise ValueError("no part 'layers' results with tinyconv and a peer to plot")
    series = [(peer, p) for peer in peers for p in PASSES if (peer, p) in present]
    values = [v for rows in table.values() for _, _, rat in rows for v in rat.values()]
    lo = min(values + [1.0]) / 1.6
    hi = max(values + [1.0]) * 1.6
    # One y position per row name, shared by the panels (thread counts).
    names = list(dict.fromkeys(name for rows in table.values() for name, _, _ in rows))
    index = {name: i for i, name in enumerate(names)}
    nrows = len(names)
    height = 0.8 / len(series)
    fig = Figure(figsize=(2.6 + 4.2 * len(table), 1.4 + nrows * (0.1 + 0.13 * len(series))),
                 layout="constrained")
    axes = fig.subplots(1, len(table), sharey=True, squeeze=False)[0]
    for ax, (threads, rows) in zip(axes, table.items()):
        for j, (peer, p) in enumerate(series):
            colour = COLOURS.get(peer, ("0.7", "0.3"))[PASSES.index(p)]
            pts = [(index[name] + (j - (len(series) - 1) / 2) * height, rat[(peer, p)])
                   for name, _, rat in rows if (peer, p) in rat]
            if not pts:
                continue
            ys, xs = zip(*pts)
            # Bars grow from 1.0x: rightwards where tinyconv is faster, leftwards where slower.
            ax.barh(ys, [x - 1 for x in xs], height=height, left=1, color=colour,
                    label=f"vs {peer} {p}")
            for y, x in pts:
                ax.text(x * 1.04 if x >= 1 else x / 1.04, y, f"{x:.2f}", va="center",
                        ha="left" if x >= 1 else "right", fontsize=5)
        # A dashed line between groups of rows (convolutions and pooling, activations).
        for (_, g0, _), (name, g1, _) in zip(rows, rows[1:]):
            if g0 != g1:
                ax.axhline(index[name] - 0.5, color="0.5", linestyle="--", linewidth=0.8)
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ticks = [t for t in TICKS if lo <= t <= hi]
        ax.set_xticks(ticks, [f"{t:g}x" for t in ticks], fontsize=8)
        ax.minorticks_off()
        ax.set_title(f"{threads} thread{'s' if threads != 1 else ''}", fontsize=10)
        ax.grid(axis="x", color="0.9")
        ax.set_axisbelow(True)
    axes[0].set_yticks(range(nrows), names, fontsize=7)
    axes[0].set_ylim(nrows - 0.5, -0.5)  # first row at the top
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(series), fontsize=8)
    fig.suptitle(_title(data), fontsize=9)
    fig.savefig(path, dpi=150)
    return path


def save_chart(data, path, peers=PEERS):
    """:func:`render`, or one printed line (and False) when matplotlib is missing or there is
    nothing to draw."""
    try:
        render(data, path, peers)
    except ImportError:
        print(NO_MATPLOTLIB + f"; {path} not written", flush=True)
        return False
    except ValueError as e:
        print(f"no chart: {e}; {path} not written", flush=True)
        return False
    print(f"wrote {path}", flush=True)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description="Chart of tinyconv's speedups from run.py --json.")
    ap.add_argument("json", help="a file written by bench/run.py --json")
    ap.add_argument("-o", "--output", default=None,
                    help="image to write (default: the JSON's name with .png)")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help=f"comma-separated peers to compare with (default: {','.join(PEERS)}; "
                         f"also torch-CL)")
    args = ap.parse_args(argv)
    with open(args.json) as f:
        data = json.load(f)
    out = args.output or args.json.removesuffix(".json") + ".png"
    peers = tuple(p.strip() for p in args.peers.split(",") if p.strip())
    return 0 if save_chart(data, out, peers) else 1


if __name__ == "__main__":
    sys.exit(main())
