"""The COCO reader's work grows linearly with the number of categories (Hardening, round two,
class 3): the duplicate-name check looked names up in a list, so 16,000 categories took over a
second and a few MB of JSON held a web thread for minutes."""

from __future__ import annotations

import time

from annotator.formats.coco import from_coco


def _doc(count: int) -> dict:
    return {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": f"category {i}"} for i in range(count)],
    }


def _best_of(count: int, runs: int = 3) -> float:
    doc = _doc(count)
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        dataset = from_coco(doc)
        best = min(best, time.perf_counter() - start)
    assert len(dataset.labels) == count
    return best


def test_reading_categories_is_linear_in_their_number() -> None:
    # From 16,000 (the example, 1.3 s before) up: below that, caches make small runs
    # disproportionately fast and the ratio says little.
    small, large = _best_of(16_000), _best_of(128_000)
    # 8 times the categories: linear work is ~8 times the time, quadratic ~64 times. The bound
    # leaves room for a busy machine's noise, far below the quadratic ratio.
    assert large / small < 32, (small, large)
    assert small < 0.5, small
