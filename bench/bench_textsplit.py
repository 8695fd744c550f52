"""Speed of core.textsplit: splitting a megabyte of text in every mode, and user patterns against their budget.

    python -m bench.bench_textsplit                  # 1,000,000 characters, every mode and text shape
    python -m bench.bench_textsplit --chars 100000 --modes regex

Prints the seconds of one split_text call (the best of --rounds) for each mode and text shape: prose,
one long word, a million dots, a million line breaks, and a million unclosed quotes and brackets (the
shapes that made earlier splitters quadratic). Mode "regex" runs each of a few honest patterns, and
prints how much of the matching budget (core.textsplit.PATTERN_BUDGET_S, per split) the slowest
matching used; a pattern that runs out of budget on a text prints "over" and the InputError.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from core.errors import InputError
from core.textsplit import PATTERN_BUDGET_S, SplitOptions, pattern_spans, split_text

SHAPES = {
    "prose": lambda n: ("The quick brown fox, it seems, jumps. Chapter two!\n\n" * (n // 52 + 1))[:n],
    "one-word": lambda n: "x" * n,
    "dots": lambda n: "." * n,
    "newlines": lambda n: "\n" * (n - 9) + "last line",
    "openers": lambda n: "“" * (n // 2) + "♪" * 3 + "[" * (n - n // 2 - 3),
}
MODES = ("sentence", "line", "word", "char", "separator", "regex")
PATTERNS = (r"[.!?]\s+", r"\n\n+", r"(?=Chapter)", r"\b(?:fox|jumps)\b", r"(?:\w+\W+){5}")


def best_seconds(rounds: int, work: Callable[..., object], *args: object) -> float:
    """The shortest of `rounds` runs of work(*args), in seconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def option_sets(mode: str) -> list[tuple[str, SplitOptions]]:
    """(label, options) of one mode: one set, or one per honest pattern in mode "regex"."""
    if mode == "regex":
        return [(f"regex {p}", SplitOptions(mode="regex", pattern=p)) for p in PATTERNS]
    return [(mode, SplitOptions(mode=mode, separator="."))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=1_000_000, help="length of each text, in characters")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--rounds", type=int, default=3, help="each figure is the best of this many splits")
    args = parser.parse_args()
    texts = {name: make(args.chars) for name, make in SHAPES.items()}
    print(f"split_text on {args.chars:,} characters, best of {args.rounds}, seconds")
    print(f"{'':28}" + "".join(f"{name:>11}" for name in texts))
    for mode in args.modes:
        for label, options in option_sets(mode):
            cells = []
            for text in texts.values():
                try:
                    cells.append(f"{best_seconds(args.rounds, split_text, text, options):11.3f}")
                except InputError as e:
                    cells.append(f"{'over':>11}")
                    print(f"  {label}: {e}")
            print(f"{label:<28}" + "".join(cells))
    if "regex" in args.modes:
        print_matching(texts, args.rounds)


def all_spans(pattern: str, text: str) -> list[tuple[int, int]]:
    return list(pattern_spans(pattern, text))


def print_matching(texts: dict[str, str], rounds: int) -> None:
    """The budgeted part of mode "regex" alone: matching each honest pattern on each text."""
    slowest, where = 0.0, ""
    for pattern in PATTERNS:
        for name, text in texts.items():
            try:
                seconds = best_seconds(rounds, all_spans, pattern, text)
            except InputError:
                continue  # shown in the table above
            if seconds > slowest:
                slowest, where = seconds, f"{pattern} on {name}"
    share = slowest / PATTERN_BUDGET_S
    print(f"\nslowest matching {slowest:.3f} s ({where}): {share:.1%} of the {PATTERN_BUDGET_S:g} s budget")


if __name__ == "__main__":
    main()
