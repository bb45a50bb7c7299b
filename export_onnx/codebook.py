"""Lloyd-Max scalar codebooks: the code of both SAM 2 feature wire formats (`export_onnx.wire2`).

Numpy only. The values of one codebook are sorted once; a Lloyd step then needs only the bucket
boundaries (a search of the ``levels - 1`` midpoints in the sorted values) and prefix sums, so a
step costs ``levels * log(N)`` rather than a pass over the N values, and the squared error of the
final book comes from prefix sums of squares the same way. That is what lets the version 2
encoder try six bit widths for each of its 1,408 (channel, band) codebooks without coding them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LLOYD_ITERATIONS = 12


@dataclass(frozen=True)
class SortedValues:
    """One codebook's values, sorted, with prefix sums of the values and of their squares."""

    ordered: np.ndarray
    prefix: np.ndarray
    prefix2: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> SortedValues:
        ordered = np.sort(np.asarray(values, np.float64).reshape(-1))
        zero = np.zeros(1)
        return cls(
            ordered,
            np.concatenate([zero, np.cumsum(ordered)]),
            np.concatenate([zero, np.cumsum(ordered * ordered)]),
        )

    def bounds(self, book: np.ndarray) -> np.ndarray:
        """(levels + 1,) bucket starts: bucket k holds ``ordered[b[k]:b[k + 1]]``, the values
        in (mid[k - 1], mid[k]], as `codes` assigns them."""
        ends = np.searchsorted(self.ordered, (book[1:] + book[:-1]) / 2, side="right")
        return np.concatenate([[0], ends, [self.ordered.size]])


def lloyd(
    values: SortedValues,
    levels: int,
    *,
    iterations: int = LLOYD_ITERATIONS,
    init: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """A Lloyd-Max codebook of `levels` levels and its squared error.

    Arguments:
        values: the values to code.
        levels: the number of levels (2^bits).
        iterations: Lloyd steps from the start book.
        init: (levels,) start book; default the values at the levels' mid quantiles.
    Returns:
        (sorted book (levels,) float64, sum over the values of (value - its level)^2).
    """
    s = values
    n = s.ordered.size
    if init is None:
        book = s.ordered[((np.arange(levels) + 0.5) * n / levels).astype(np.int64)]
    else:
        book = np.asarray(init, np.float64)
    for _ in range(iterations):
        bounds = s.bounds(book)
        counts = np.diff(bounds)
        sums = s.prefix[bounds[1:]] - s.prefix[bounds[:-1]]
        book = np.where(counts > 0, sums / np.maximum(counts, 1), book)
    book = np.sort(book)
    bounds = s.bounds(book)
    counts = np.diff(bounds)
    sums = s.prefix[bounds[1:]] - s.prefix[bounds[:-1]]
    squares = s.prefix2[bounds[1:]] - s.prefix2[bounds[:-1]]
    error = float(np.sum(squares - 2 * book * sums + counts * book * book))
    return book, max(error, 0.0)


def codes(values: np.ndarray, book: np.ndarray) -> np.ndarray:
    """uint8 index of each value's nearest level in the sorted `book` (ties to the lower)."""
    return np.searchsorted((book[1:] + book[:-1]) / 2, values).astype(np.uint8)
