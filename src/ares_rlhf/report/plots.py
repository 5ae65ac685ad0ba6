"""The report's plots: matplotlib figures rendered as inline SVG text (no files, no network).

Every function takes plain data (lists, dicts) and returns one ``<svg>`` element as a string.
Figures are built with :class:`matplotlib.figure.Figure` (no pyplot, no global backend), text
stays text (``svg.fonttype: none``) and each figure gets its own id salt, so several SVGs can
share one HTML page without their internal ids colliding.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

BEFORE_COLOUR = "#7a8894"
AFTER_COLOUR = "#1f77b4"
TYPE_COLOURS = {"A": "#e8a33d", "B": "#8e6bbf", "C": "#c8423b", "none": "#c9d3db", "unscored": "#8c8c8c"}
HELDOUT_COLOUR = "#1f5fbf"
"""Outline of failure-map cells that hold held-out combinations."""
WIDTH = 8.5
"""Default figure width in inches (the page shows figures at their natural size)."""
_salt = itertools.count()


def to_svg(fig: Any) -> str:
    """The figure as one ``<svg>`` element (XML prolog and doctype dropped)."""
    import matplotlib

    style = {
        "svg.fonttype": "none",
        "svg.hashsalt": f"ares-report-{next(_salt)}",
        "font.size": 9,
        "font.family": ["DejaVu Sans", "sans-serif"],
    }
    buffer = io.StringIO()
    with matplotlib.rc_context(style):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _style(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(True, axis="y", color="#e5e9ec", linewidth=0.6)
    ax.set_axisbelow(True)


# -- failure map --------------------------------------------------------------------------------
def failure_heatmaps(
    rows: Sequence[str],
    cols: Sequence[str],
    row_type: str,
    col_type: str,
    panels: Sequence[Sequence[dict[str, Any]]],
    column_titles: Sequence[str],
    row_titles: Sequence[str],
    heldout: Mapping[tuple[str, str], str],
) -> str:
    """A grid of heatmaps: one row per failure type, one column per system.

    ``panels[i][j]`` is ``{"k": {(row, col): int}, "n": {(row, col): int}}`` for failure type
    ``row_titles[i]`` and system ``column_titles[j]``. ``heldout[(row, col)]`` is ``"all"`` or
    ``"some"``: cells whose probes are all / partly on held-out combinations get a solid /
    dashed outline. Empty cells are grey.
    """
    import matplotlib
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    n_rows, n_cols = len(panels), len(column_titles)
    # a fixed grid in inches (a layout engine costs more than the drawing with this much text)
    left = 0.45 + 0.062 * max(len(r) for r in rows)
    bottom = 0.35 + 0.055 * max(len(c) for c in cols)
    top, gap_x, gap_y, right = 0.3, 0.25, 0.12, 1.35
    cell = min(
        0.3,
        (16.0 - left - right - gap_x * (n_cols - 1)) / (n_cols * len(cols)),
        (30.0 - top - bottom - gap_y * (n_rows - 1)) / (n_rows * len(rows)),
    )
    panel_w, panel_h = cell * len(cols), cell * len(rows)
    width = left + n_cols * panel_w + gap_x * (n_cols - 1) + right
    height = top + n_rows * panel_h + gap_y * (n_rows - 1) + bottom
    fig = Figure(figsize=(width, height))
    axes = np.empty((n_rows, n_cols), dtype=object)
    for i in range(n_rows):
        for j in range(n_cols):
            x = left + j * (panel_w + gap_x)
            y = height - top - (i + 1) * panel_h - i * gap_y
            axes[i, j] = fig.add_axes(
                (x / width, y / height, panel_w / width, panel_h / height),
                sharex=axes[0, 0] if (i or j) else None,
                sharey=axes[0, 0] if (i or j) else None,
            )
    base = matplotlib.colormaps["OrRd"]
    cmap = ListedColormap(base(np.linspace(0.05, 1.0, 256))).with_extremes(bad="#e4e8eb")
    annotate = len(rows) * len(cols) <= 400
    image = None
    for i, row_panels in enumerate(panels):
        for j, panel in enumerate(row_panels):
            ax = axes[i, j]
            values = np.full((len(rows), len(cols)), np.nan)
            for (r, c), n in panel["n"].items():
                if n:
                    values[rows.index(r), cols.index(c)] = panel["k"].get((r, c), 0) / n
            image = ax.imshow(
                np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=1, aspect="auto",
                interpolation="none",
            )
            for (r, c), n in panel["n"].items():
                if not n:
                    continue
                y, x = rows.index(r), cols.index(c)
                share = heldout.get((r, c))
                if share:
                    ax.add_patch(
                        Rectangle(
                            (x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor=HELDOUT_COLOUR,
                            linewidth=1.6, linestyle="-" if share == "all" else (0, (2, 1.5)),
                        )
                    )
                if annotate:
                    k = panel["k"].get((r, c), 0)
                    dark = values[y, x] > 0.6
                    ax.text(
                        x, y, f"{k}/{n}", ha="center", va="center", fontsize=6,
                        color="white" if dark else "#1b2a36",
                    )
            ax.tick_params(length=0)
            for spine in ax.spines.values():
                spine.set_visible(False)
            if i == 0:
                ax.set_title(column_titles[j], fontsize=9, fontweight="bold")
            if j == 0:
                ax.set_ylabel(f"{row_titles[i]}\n{row_type}", fontsize=8)
            if i == n_rows - 1:
                ax.set_xlabel(col_type, fontsize=8)
    for ax in axes[-1]:
        ax.set_xticks(range(len(cols)), labels=cols, rotation=60, ha="right", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_yticks(range(len(rows)), labels=rows, fontsize=7)
    for i, j in np.ndindex(axes.shape):
        axes[i, j].tick_params(labelbottom=i == n_rows - 1, labelleft=j == 0)
    if image is not None:
        bar_height = min(3.0, n_rows * panel_h)
        bar_axes = fig.add_axes((
            (width - right + 0.2) / width, (height - top - bar_height) / height,
            0.14 / width, bar_height / height,
        ))
        bar = fig.colorbar(image, cax=bar_axes)
        bar.set_label("share of the cell's probes failing this way", fontsize=8)
        bar.ax.tick_params(labelsize=7)
        bar.ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    return to_svg(fig)


# -- discovery ----------------------------------------------------------------------------------
def discovery_curve(points: Sequence[dict[str, int]]) -> str:
    """Cumulative failures per type, all failures and distinct failing combinations vs probes."""
    fig = _figure(WIDTH, 3.2)
    ax = fig.subplots()
    x = [p["probes"] for p in points]
    ax.plot(x, [p["failures"] for p in points], color="#1b2a36", linewidth=2, label="failures (A+B+C)")
    for kind in ("A", "B", "C"):
        ax.plot(x, [p[kind] for p in points], color=TYPE_COLOURS[kind], linewidth=1.4, label=kind)
    ax.plot(
        x, [p["combinations"] for p in points], color="#1f77b4", linestyle="--", linewidth=1.6,
        label="distinct failing combinations",
    )
    ax.plot(x, x, color="#c0c7cd", linewidth=0.8, linestyle=":", label="every probe a failure")
    ax.set_xlabel("probes")
    ax.set_ylabel("cumulative count")
    ax.set_xlim(0, max(x) if x else 1)
    ax.set_ylim(0, None)
    _style(ax)
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    return to_svg(fig)


def allocation_bars(allocation: Mapping[str, Mapping[str, Mapping[str, int]]]) -> str:
    """Probes the search spent per component, one panel per component type, stacked by type.

    ``allocation[component_type][component_id][failure_type]`` is a probe count.
    """
    kinds = ("C", "B", "A", "none", "unscored")
    types = list(allocation)
    heights = [max(1, len(allocation[t])) for t in types]
    fig = _figure(WIDTH, 0.8 + 0.17 * sum(heights) + 0.35 * len(types))
    axes = fig.subplots(len(types), 1, squeeze=False, height_ratios=heights)
    for ax, ctype in zip(axes[:, 0], types, strict=True):
        items = list(allocation[ctype].items())
        labels = [name for name, _ in items]
        left = [0] * len(items)
        for kind in kinds:
            widths = [counts.get(kind, 0) for _, counts in items]
            if any(widths):
                ax.barh(labels, widths, left=left, color=TYPE_COLOURS[kind], label=kind, height=0.75)
                left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.invert_yaxis()
        ax.set_ylabel(ctype, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.tick_params(axis="x", labelsize=7)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(True, axis="x", color="#e5e9ec", linewidth=0.6)
        ax.set_axisbelow(True)
    axes[-1, 0].set_xlabel("probes (discovery)")
    handles, names = axes[0, 0].get_legend_handles_labels()
    for ax in axes[1:, 0]:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            if name not in names:
                handles.append(handle)
                names.append(name)
    fig.legend(handles, names, loc="outside upper right", ncols=len(names), frameon=False, fontsize=7)
    return to_svg(fig)


# -- reward model -------------------------------------------------------------------------------
def margin_histograms(groups: Mapping[str, Mapping[str, Sequence[float]]]) -> str:
    """Histograms of per-probe RM margins (safe - malicious), before vs after, per group."""
    from matplotlib.ticker import MaxNLocator

    names = [g for g in groups if any(groups[g].values())]
    fig = _figure(WIDTH, 2.7)
    axes = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=False):
        values = [v for side in groups[name].values() for v in side]
        low, high = min(values), max(values)
        if math.isclose(low, high):
            low, high = low - 0.5, high + 0.5
        bins = [low + (high - low) * i / 24 for i in range(25)]
        for side, colour in (("before", BEFORE_COLOUR), ("after", AFTER_COLOUR)):
            data = list(groups[name].get(side, []))
            if data:
                ax.hist(
                    data, bins=bins, alpha=0.55, color=colour, label=f"{side} (n={len(data)})",
                    edgecolor="white", linewidth=0.4,
                )
        ax.axvline(0, color="#1b2a36", linewidth=0.9, linestyle="--")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("RM margin: score(safe) - score(malicious)", fontsize=8)
        _style(ax)
        ax.legend(frameon=False, fontsize=7)
    axes[0].set_ylabel("probes")
    return to_svg(fig)


def margin_quantiles(sets: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """Each pair set's stored margin summary (min, 10%, median, 90%, mean), before vs after."""
    names = list(sets)
    fig = _figure(WIDTH, 0.9 + 0.55 * len(names))
    ax = fig.subplots()
    for index, name in enumerate(names):
        for offset, side, colour in ((-0.17, "before", BEFORE_COLOUR), (0.17, "after", AFTER_COLOUR)):
            stats = sets[name].get(side) or {}
            if stats.get("margin_median") is None:
                continue
            y = index + offset
            ax.plot([stats["margin_q10"], stats["margin_q90"]], [y, y], color=colour, linewidth=5,
                    solid_capstyle="butt", alpha=0.75, label=f"{side}: 10%-90%" if index == 0 else None)
            ax.plot([stats["margin_median"]], [y], marker="|", markersize=11, color="#1b2a36",
                    label="median" if index == 0 and side == "before" else None)
            ax.plot([stats["margin_mean"]], [y], marker="o", markersize=3.5, color="white",
                    markeredgecolor="#1b2a36", label="mean" if index == 0 and side == "before" else None)
            ax.plot([stats["margin_min"]], [y], marker="<", markersize=4, color=colour,
                    label=f"{side}: min" if index == 0 else None)
    ax.axvline(0, color="#1b2a36", linewidth=0.9, linestyle="--")
    ax.set_yticks(range(len(names)), labels=names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("RM margin: score(chosen) - score(rejected)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(True, axis="x", color="#e5e9ec", linewidth=0.6)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return to_svg(fig)


# -- training -----------------------------------------------------------------------------------
def training_curves(series: Mapping[str, Sequence[tuple[float, float]]]) -> str:
    """One small panel per logged metric: value vs trainer step."""
    from matplotlib.ticker import MaxNLocator

    names = list(series)
    columns = min(3, max(1, len(names)))
    rows = math.ceil(len(names) / columns)
    fig = _figure(WIDTH, 0.3 + 2.0 * rows)
    axes = fig.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(names):
            ax.set_visible(False)
            continue
        points = series[names[index]]
        ax.plot([p[0] for p in points], [p[1] for p in points], color=AFTER_COLOUR, marker="o",
                markersize=3 if len(points) < 40 else 0, linewidth=1.3)
        ax.set_title(names[index], fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        _style(ax)
    return to_svg(fig)


# -- before / after intervals -------------------------------------------------------------------
def rate_intervals(rows: Sequence[dict[str, Any]]) -> str:
    """Dot-and-whisker chart: each figure's before and after rate with its 95% interval.

    ``rows`` are ``{"label", "before": {"rate", "ci95"}, "after": {...}}``.
    """
    from matplotlib.ticker import PercentFormatter

    fig = _figure(WIDTH, 0.8 + 0.42 * len(rows))
    ax = fig.subplots()
    for index, row in enumerate(rows):
        for offset, side, colour in ((-0.15, "before", BEFORE_COLOUR), (0.15, "after", AFTER_COLOUR)):
            value = row.get(side) or {}
            if value.get("rate") is None:
                continue
            low, high = value.get("ci95") or (None, None)
            y = index + offset
            if low is not None and high is not None:
                ax.plot([low, high], [y, y], color=colour, linewidth=1.6)
            ax.plot([value["rate"]], [y], marker="o", markersize=5, color=colour,
                    label=side if index == 0 else None)
    ax.set_yticks(range(len(rows)), labels=[r["label"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(True, axis="x", color="#e5e9ec", linewidth=0.6)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return to_svg(fig)


__all__ = [
    "allocation_bars",
    "discovery_curve",
    "failure_heatmaps",
    "margin_histograms",
    "margin_quantiles",
    "rate_intervals",
    "to_svg",
    "training_curves",
]
