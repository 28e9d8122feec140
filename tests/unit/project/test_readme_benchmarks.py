"""The README's benchmark figures are quoted from docs/benchmarks.md, never kept on their own."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?x?")


def readme_section(title: str) -> str:
    """The README's `## {title}` section, up to the next level-2 heading."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def figures(text: str) -> list[str]:
    """Every number in `text` as written (1.42x, 0.660, 26,860, 2026-11-24 -> 2026, 11, 24)."""
    return [m.group().rstrip(",") for m in NUMBER.finditer(text)]


def quoted_in(number: str, doc: str) -> bool:
    """`number` occurs in `doc` as a whole number (not as a part of a longer one)."""
    return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d]|\.\d)", doc) is not None


def test_every_readme_benchmark_figure_is_in_docs_benchmarks() -> None:
    doc = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    section = readme_section("Benchmarks")
    numbers = figures(section)
    assert len(numbers) >= 5  # the section quotes figures, it does not just link
    stale = [n for n in numbers if not quoted_in(n, doc)]
    assert not stale, f"README benchmark figures not in docs/benchmarks.md: {stale}"


def test_the_check_sees_a_figure_that_is_not_there() -> None:
    doc = "ratio 1.42x, 0.660 vs 0.535; 26,860 calls"
    assert [n for n in figures("1.42x and 1.83x; 0.66; 26,860 calls, 400x") if not quoted_in(n, doc)] \
        == ["1.83x", "0.66", "400x"]
