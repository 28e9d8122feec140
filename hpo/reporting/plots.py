"""Tournament plots (matplotlib, Agg backend): win rounds like PandaLM's Fig. 8, win matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hpo.tournament.base import MatchRecord  # noqa: E402


def mean_by(scores: Mapping[str, float], meta: Mapping[str, dict], key: str) -> dict[float, float]:
    """Mean score over the candidates sharing each value of meta[...][key] (sorted by value).
    Candidates without a numeric value for `key` (e.g. a baseline) are left out."""
    groups: dict[float, list[float]] = {}
    for cid, score in scores.items():
        try:
            value = float(meta[cid][key])
        except (KeyError, TypeError, ValueError):
            continue
        groups.setdefault(value, []).append(score)
    return {v: float(np.mean(groups[v])) for v in sorted(groups)}


def plot_win_rounds_multi(series: Mapping[str, Mapping[str, float]], meta: Mapping[str, dict],
                          out: Path) -> Path:
    """Fig. 8 style: mean win rounds by learning rate (left) and by epoch (right), one line
    per model label in `series` (label -> {candidate_id: win rounds})."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for label, scores in series.items():
        for ax, key in zip(axes, ("lr", "epoch"), strict=True):
            means = mean_by(scores, meta, key)
            ax.plot(list(means), list(means.values()), marker="o", label=label)
    axes[0].set_xscale("log")
    for ax, name in zip(axes, ("learning rate", "epoch"), strict=True):
        ax.set_xlabel(name)
        ax.set_ylabel("mean win rounds")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _save(fig, out)


def plot_win_rounds(scores: Mapping[str, float], meta: Mapping[str, dict], out: Path,
                    model_label: str) -> Path:
    """One model's win rounds by learning rate and by epoch (PandaLM Fig. 8)."""
    return plot_win_rounds_multi({model_label: scores}, meta, out)


def win_matrix(matches: Sequence[MatchRecord]) -> tuple[list[str], np.ndarray]:
    """(ids, M) with M[i, j] = item-level win rate of i against j over the items judged
    (ties count half, invalid items ignored); NaN where the pair never met."""
    ids = sorted({m.a for m in matches} | {m.b for m in matches})
    pos = {c: k for k, c in enumerate(ids)}
    won = np.zeros((len(ids), len(ids)))
    total = np.zeros_like(won)
    for m in matches:
        i, j, valid = pos[m.a], pos[m.b], m.wins + m.losses + m.ties
        won[i, j] += m.wins + m.ties / 2
        won[j, i] += m.losses + m.ties / 2
        total[i, j] += valid
        total[j, i] += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(total > 0, won / np.where(total > 0, total, 1), np.nan)
    return ids, rate


def plot_win_matrix(matches: Sequence[MatchRecord], out: Path) -> Path:
    """Heatmap of the item-level win rate of row vs column (blank where not played)."""
    ids, rate = win_matrix(matches)
    size = max(4.0, 0.18 * len(ids) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(np.ma.masked_invalid(rate), cmap="RdBu", vmin=0, vmax=1)
    ax.set_xticks(range(len(ids)), ids, rotation=90, fontsize=6)
    ax.set_yticks(range(len(ids)), ids, fontsize=6)
    ax.set_title("item-level win rate, row vs column")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, out)


def _save(fig: plt.Figure, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
