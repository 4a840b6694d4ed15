"""Results to a Markdown table and matplotlib plots (accuracy, time and tokens processed
against input tokens, one line per method)."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from rlm_desktop.bench.runner import Row

# one colour per method in every panel
COLORS = {"rlm": "tab:orange", "rag": "tab:blue", "direct": "tab:green"}


def _groups(rows: Sequence[Row], by: tuple[str, ...]) -> dict[tuple, list[Row]]:
    out: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        out[tuple(getattr(r, k) for k in by)].append(r)
    return out


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def summary_table(rows: Sequence[Row], by: tuple[str, ...] = ("family", "size", "method")) -> str:
    """One line per group: accuracy, runs, median time, tokens and sub-calls."""
    head = [*by, "accuracy", "runs", "median s", "median tokens", "median sub-calls", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    groups = _groups(rows, by)

    def order(key: tuple) -> tuple:
        mids = [min(r.input_tokens for r in groups[key])]
        return (key[0], *mids, *key[1:])

    for key in sorted(groups, key=order):
        g = groups[key]
        correct = sum(r.correct for r in g)
        errors = sum(r.status in ("error", "cancelled") for r in g)
        cells = [
            *map(str, key),
            f"{100 * correct / len(g):.0f}% ({correct}/{len(g)})",
            str(len(g)),
            f"{_median([r.wall_s for r in g]):.1f}",
            f"{_median([r.tokens for r in g]):,.0f}",
            f"{_median([r.sub_calls for r in g]):.0f}",
            str(errors),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def failures(rows: Sequence[Row], limit: int = 8) -> str:
    """Wrong answers with the question, the expected and the given answer, for the docs."""
    out = []
    for r in [r for r in rows if not r.correct][:limit]:
        out.append(f"- `{r.task_id}` ({r.method}): {r.question} expected `{r.expected}`, got `{r.answer[:160]!s}` ({r.status}; {r.detail})")
    return "\n".join(out) + ("\n" if out else "")


def plot(rows: Sequence[Row], out_dir: Path, prefix: str = "quality") -> list[Path]:
    """Write ``<prefix>-accuracy.png`` (one panel per family) and ``<prefix>-cost.png``
    (time and tokens processed). Returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    families = sorted({r.family for r in rows})
    methods = sorted({r.method for r in rows})
    written: list[Path] = []

    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.4), squeeze=False)
    for ax, family in zip(axes[0], families, strict=False):
        _method_lines(ax, rows, family, methods, lambda g: 100 * sum(r.correct for r in g) / len(g), "accuracy %")
        ax.set_ylim(-5, 105)
        ax.set_title(family)
    written.append(_save(plt, fig, out_dir / f"{prefix}-accuracy.png"))

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), squeeze=False)
    for ax, (label, fn) in zip(axes[0], (("median wall time (s)", lambda g: _median([r.wall_s for r in g])), ("median tokens processed", lambda g: _median([r.tokens for r in g]))), strict=False):
        _method_lines(ax, rows, None, methods, fn, label)
        ax.set_yscale("log")
    written.append(_save(plt, fig, out_dir / f"{prefix}-cost.png"))
    return written


def _method_lines(ax, rows: Sequence[Row], family: str | None, methods: Sequence[str], fn, ylabel: str) -> None:
    """One line per method of ``fn`` over input tokens (log x), labelled and gridded."""
    for method in methods:
        pts = _points(rows, family, method, fn)
        if pts:
            ax.plot(*zip(*pts, strict=False), marker="o", label=method, color=COLORS.get(method))
    ax.set_xscale("log")
    ax.set_xlabel("input tokens")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _points(rows: Sequence[Row], family: str | None, method: str, fn) -> list[tuple[float, float]]:
    by_size: dict[int, list[Row]] = defaultdict(list)
    for r in rows:
        if r.method == method and (family is None or r.family == family):
            by_size[r.input_tokens].append(r)
    return [(size, max(fn(g), 1e-3)) for size, g in sorted(by_size.items())]


BIN_COLORS = {"right": "tab:green", "not_found": "tab:gray", "wrong": "tab:red"}


def _bin_of(r: Row) -> str:
    """Rows written before bins existed: right or wrong only."""
    return r.bin or ("right" if r.correct else "wrong")


def bins_table(rows: Sequence[Row], by: tuple[str, ...] = ("family", "method")) -> str:
    """One line per group: right, honest "not found" and wrong-and-confident, each as a
    share of the group's questions, with time and errors. The third column is the one a
    user minds most: a wrong value stated with a citation."""
    head = [*by, "questions", "right", "not found", "wrong (confident)", "cited right", "median s", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    groups = _groups(rows, by)
    for key in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
        g = groups[key]
        n = len(g)
        counts = {b: sum(_bin_of(r) == b for r in g) for b in ("right", "not_found", "wrong")}
        checked = [r for r in g if _bin_of(r) == "right" and r.cited]
        cited_ok = sum(r.cited == "ok" for r in checked)
        cells = [
            *map(str, key), str(n),
            *(f"{100 * counts[b] / n:.0f}% ({counts[b]})" for b in ("right", "not_found", "wrong")),
            f"{cited_ok}/{len(checked)}" if checked else "-",
            f"{_median([r.wall_s for r in g]):.1f}",
            str(sum(r.status in ("error", "cancelled") for r in g)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_RULE_NOTICE = re.compile(r"^\[([a-z_]+)\] ")


def refusals_table(rows: Sequence[Row]) -> str:
    """Per answer rule: the rlm runs it sent an answer back in (its name heads the
    trace's notice, ``[ungrounded] ...``), how often, and how those runs ended. What a
    rule is worth is its ablation's; this says where each one acts, counted without
    reading a trace."""
    fired: dict[str, list[tuple[Row, int]]] = {}
    for r in rows:
        if r.method != "rlm":
            continue
        names = [m.group(1) for step in (r.trace or []) if (m := _RULE_NOTICE.match(str(step.get("notice", ""))))]
        for name in sorted(set(names)):
            fired.setdefault(name, []).append((r, names.count(name)))
    if not fired:
        return "No answer rule sent an answer back in these runs (or their traces predate the rules' names).\n"
    lines = ["| rule | runs | refusals | right | not found | wrong (confident) |", "|---|---|---|---|---|---|"]
    for name in sorted(fired, key=lambda n: (-len(fired[n]), n)):
        runs = fired[name]
        ends = [_bin_of(r) for r, _ in runs]
        lines.append(f"| {name} | {len(runs)} | {sum(n for _, n in runs)} | "
                     + " | ".join(str(ends.count(b)) for b in ("right", "not_found", "wrong")) + " |")
    return "\n".join(lines) + "\n"


def plot_bins(rows: Sequence[Row], out_dir: Path, prefix: str) -> Path:
    """``<prefix>-bins.png``: one panel per family, one stacked bar per method (right,
    not found, wrong), so where the RLM wins or loses against its baselines shows at a
    glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    families = sorted({r.family for r in rows})
    methods = [m for m in COLORS if any(r.method == m for r in rows)]
    fig, axes = plt.subplots(1, max(len(families), 1), figsize=(2.6 * max(len(families), 1) + 1, 3.4), squeeze=False)
    for ax, family in zip(axes[0], families, strict=False):
        bottom = [0.0] * len(methods)
        for b in ("right", "not_found", "wrong"):
            shares = []
            for m in methods:
                g = [r for r in rows if r.family == family and r.method == m]
                shares.append(100 * sum(_bin_of(r) == b for r in g) / len(g) if g else 0.0)
            ax.bar(methods, shares, bottom=bottom, color=BIN_COLORS[b], label=b.replace("_", " "))
            bottom = [x + y for x, y in zip(bottom, shares, strict=True)]
        n = len({r.task_id for r in rows if r.family == family})
        ax.set_title(f"{family} ({n})")
        ax.set_ylim(0, 100)
        ax.set_ylabel("% of questions")
    axes[0][0].legend(fontsize=7, loc="lower left")
    return _save(plt, fig, out_dir / f"{prefix}-bins.png")
