"""Mask <-> polygon <-> RLE conversions, and the parsing of untrusted polygons."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from annotator.geometry import (
    MAX_TOTAL_POINTS,
    GeometryError,
    check_simple,
    find_self_crossing,
    mask_area,
    mask_bbox,
    mask_to_polygons,
    mask_to_rle,
    polygons_to_mask,
    rle_to_mask,
    validate_polygons,
)
from annotator.geometry.masks import _edge_contours

# pycocotools' Cython decode trips a numpy 2 DeprecationWarning (copy=False) on every call.


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def disc(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 < r**2


def round_trip(mask: np.ndarray, tolerance: float = 0.5) -> np.ndarray:
    return polygons_to_mask(mask_to_polygons(mask, tolerance), *mask.shape)


def test_a_single_pixel_becomes_the_square_around_it_in_pixel_corner_coordinates() -> None:
    mask = np.zeros((6, 5), bool)
    mask[3, 2] = True
    [polygon] = mask_to_polygons(mask)
    assert sorted(map(tuple, polygon["outer"])) == [(2, 3), (2, 4), (3, 3), (3, 4)]
    assert polygon["holes"] == []
    assert np.array_equal(round_trip(mask), mask)


def test_polygons_rasterise_like_pycocotools() -> None:
    mask = disc(120, 150, 70.3, 60.1, 40) | disc(120, 150, 20, 20, 9)
    polygons = mask_to_polygons(mask, tolerance=0.5)
    flat = [[v for p in poly["outer"] for v in p] for poly in polygons]
    coco = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(flat, 120, 150)))
    assert np.array_equal(coco.astype(bool), polygons_to_mask(polygons, 120, 150))
    assert iou(coco.astype(bool), mask) >= 0.99


def test_a_mask_with_a_hole_round_trips_with_the_hole() -> None:
    mask = disc(200, 220, 110, 100, 80) & ~disc(200, 220, 100, 95, 30)
    [polygon] = mask_to_polygons(mask)
    assert len(polygon["holes"]) == 1
    assert iou(round_trip(mask), mask) >= 0.99
    assert np.array_equal(round_trip(mask, tolerance=0), mask)


def test_a_part_inside_a_hole_is_a_separate_polygon_and_stays_filled() -> None:
    mask = disc(200, 200, 100, 100, 90) & ~disc(200, 200, 100, 100, 50)
    mask |= disc(200, 200, 100, 100, 20)
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 2
    assert sorted(len(p["holes"]) for p in polygons) == [0, 1]
    assert iou(round_trip(mask), mask) >= 0.99


def test_a_mask_in_two_parts_gives_two_polygons() -> None:
    mask = disc(150, 300, 70, 75, 50) | disc(150, 300, 220, 75, 60)
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 2
    assert iou(round_trip(mask), mask) >= 0.99


def test_default_tolerance_trades_about_one_percent_iou_for_far_fewer_vertices() -> None:
    small, large = disc(120, 120, 60.3, 60, 25), disc(300, 300, 150.3, 150, 110)
    for mask, floor in ((small, 0.97), (large, 0.99)):
        polygons = mask_to_polygons(mask)
        assert iou(polygons_to_mask(polygons, *mask.shape), mask) >= floor
        assert len(polygons[0]["outer"]) < len(mask_to_polygons(mask, tolerance=0)[0]["outer"]) / 3


@pytest.mark.parametrize("tolerance", [0.0, 1.0, 5.0])
def test_a_one_pixel_wide_line_survives_simplification(tolerance: float) -> None:
    mask = np.zeros((20, 40), bool)
    mask[7, 3:35] = True
    mask[2:18, 37] = True
    assert np.array_equal(round_trip(mask, tolerance), mask)


def test_regions_touching_the_image_border_are_closed_on_the_border() -> None:
    mask = np.ones((30, 40), bool)
    [polygon] = mask_to_polygons(mask)
    assert sorted(map(tuple, polygon["outer"])) == [(0, 0), (0, 30), (40, 0), (40, 30)]
    assert np.array_equal(round_trip(mask), mask)


def test_an_empty_mask_has_no_polygons_and_an_empty_rle() -> None:
    mask = np.zeros((10, 12), bool)
    assert mask_to_polygons(mask) == []
    assert np.array_equal(polygons_to_mask([], 10, 12), mask)
    assert np.array_equal(rle_to_mask(mask_to_rle(mask)), mask)
    assert mask_bbox(mask) == [0, 0, 0, 0]
    assert mask_area(mask) == 0


def test_min_area_drops_specks_and_fills_pinholes() -> None:
    mask = disc(100, 100, 50, 50, 40)
    mask[50, 50] = False
    mask[5, 95] = True
    polygons = mask_to_polygons(mask, min_area=2)
    assert len(polygons) == 1
    assert polygons[0]["holes"] == []


def test_bad_mask_and_tolerance_are_value_errors() -> None:
    with pytest.raises(ValueError, match="2-D"):
        mask_to_polygons(np.zeros((2, 2, 3), bool))
    with pytest.raises(ValueError, match="tolerance"):
        mask_to_polygons(np.zeros((2, 2), bool), tolerance=-1)


blob_grids = st.integers(min_value=0, max_value=2**32 - 1).map(
    lambda seed: np.random.default_rng(seed).random((8, 10))
)


def blob_from(grid: np.ndarray, threshold: float) -> np.ndarray:
    """Random smooth blobs (several parts, holes, thin necks) from an upsampled noise grid."""
    up = cv2.resize(grid, (83, 67), interpolation=cv2.INTER_CUBIC)
    return up > threshold


@settings(max_examples=60, deadline=None)
@given(grid=blob_grids, threshold=st.floats(min_value=0.3, max_value=0.8))
def test_random_blobs_round_trip_exactly_without_simplification(
    grid: np.ndarray, threshold: float
) -> None:
    mask = blob_from(grid, threshold)
    assert np.array_equal(round_trip(mask, tolerance=0), mask)


@settings(max_examples=60, deadline=None)
@given(grid=blob_grids, threshold=st.floats(min_value=0.3, max_value=0.8))
def test_random_blobs_round_trip_through_rle_and_keep_bbox_and_area(
    grid: np.ndarray, threshold: float
) -> None:
    mask = blob_from(grid, threshold)
    rle = mask_to_rle(mask)
    assert isinstance(rle["counts"], str)
    assert np.array_equal(rle_to_mask(rle), mask)
    coco_rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert mask_area(mask) == int(mask_utils.area(coco_rle))
    assert mask_bbox(mask) == [int(v) for v in mask_utils.toBbox(coco_rle)]


@settings(max_examples=40, deadline=None)
@given(grid=blob_grids, threshold=st.floats(min_value=0.3, max_value=0.7))
def test_random_large_blobs_keep_iou_with_default_simplification(
    grid: np.ndarray, threshold: float
) -> None:
    up = cv2.resize(grid, (400, 320), interpolation=cv2.INTER_CUBIC) > threshold
    assert iou(round_trip(up, tolerance=0.5), up) >= 0.99


def test_rle_accepts_bytes_and_uncompressed_counts() -> None:
    mask = disc(30, 40, 20, 15, 9)
    rle = mask_to_rle(mask)
    assert np.array_equal(
        rle_to_mask({"size": rle["size"], "counts": rle["counts"].encode()}), mask
    )
    column_major = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], column_major, [1 - column_major[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    assert sum(counts) == 30 * 40
    assert np.array_equal(rle_to_mask({"size": [30, 40], "counts": counts}), mask)


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        ("not a dict", "'size' and 'counts'"),
        ({"size": [2, 2]}, "'size' and 'counts'"),
        ({"size": [2], "counts": "04"}, "size"),
        ({"size": [2, "2"], "counts": "04"}, "size"),
        ({"size": [2, 2], "counts": 4}, "string or a list"),
        ({"size": [2, 2], "counts": [1, 2]}, "add up to 3"),
        ({"size": [2, 2], "counts": [5, -1]}, "negative"),
        ({"size": [2, 2], "counts": [2, 2.0]}, "integers"),
        ({"size": [2, 2], "counts": "0~"}, "alphabet"),
        ({"size": [2, 2], "counts": "4P"}, "truncated"),
        ({"size": [2, 2], "counts": "9"}, "add up to 9"),
        ({"size": [100000, 100000], "counts": "0"}, "out of range"),
    ],
)
def test_malformed_rle_is_refused_before_pycocotools_sees_it(rle: object, message: str) -> None:
    with pytest.raises(GeometryError, match=message):
        rle_to_mask(rle)  # type: ignore[arg-type]


SQUARE = [[1, 1], [9, 1], [9, 9], [1, 9]]


def test_valid_polygons_are_parsed_and_clipped_to_the_image() -> None:
    data = [
        {"outer": [[-1, -2], [10.5, 0], [10, 10], [0, 10]], "holes": [SQUARE]},
        {"outer": SQUARE},
    ]
    polygons = validate_polygons(data, width=10, height=10)
    assert polygons[0]["outer"][0] == [0.0, 0.0]
    assert polygons[0]["outer"][1] == [10.0, 0.0]
    assert polygons[0]["holes"] == [[[float(x), float(y)] for x, y in SQUARE]]
    assert polygons[1]["holes"] == []
    assert polygons_to_mask(polygons, 10, 10).sum() == 100 - 64 + 64


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"outer": SQUARE}, "must be a list"),
        ([SQUARE], r"polygons\[0\] must be an object"),
        ([{"holes": []}], r"polygons\[0\] is missing 'outer'"),
        ([{"outer": SQUARE, "extra": 1}], "unknown keys"),
        ([{"outer": [[0, 0], [5, 5]]}], r"polygons\[0\].outer has 2 points"),
        ([{"outer": SQUARE, "holes": [[[0, 0], [1, 1]]]}], r"holes\[0\] has 2 points"),
        ([{"outer": SQUARE, "holes": [5]}], r"holes\[0\] must be a list"),
        ([{"outer": SQUARE, "holes": 3}], "holes must be a list"),
        ([{"outer": [[0, 0], [5, "5"], [0, 5]]}], r"outer\[1\] has a non-numeric"),
        ([{"outer": [[0, 0], [5, True], [0, 5]]}], r"outer\[1\] has a non-numeric"),
        ([{"outer": [[0, 0], [5, None], [0, 5]]}], "non-numeric"),
        ([{"outer": [[0, 0], [5, math.nan], [0, 5]]}], "non-finite"),
        ([{"outer": [[0, 0], [math.inf, 5], [0, 5]]}], "non-finite"),
        ([{"outer": [[0, 0], [10**400, 5], [0, 5]]}], "non-finite"),
        ([{"outer": [[0, 0], [5, 5, 5], [0, 5]]}], r"outer\[1\] must be an \[x, y\] pair"),
        ([{"outer": [[0, 0], [500, 5], [0, 5]]}], "outside the 100x50 image"),
        ([{"outer": [[0, 0], [5, 5], [10, 10]]}], "encloses no area"),
        ([{"outer": SQUARE}] * 10_001, "at most 10000"),
        ([{"outer": [[i % 50, i % 7] for i in range(MAX_TOTAL_POINTS + 1)]}], "points in total"),
    ],
)
def test_bad_polygons_are_refused_with_a_precise_message(data: object, message: str) -> None:
    with pytest.raises(GeometryError, match=message):
        validate_polygons(data, width=100, height=50)


def test_geometry_error_is_a_value_error() -> None:
    assert issubclass(GeometryError, ValueError)


# --- Self-crossing rings -------------------------------------------------------------------------

# Two blobs joined by a thin diagonal stroke (118 x 142): at tolerance 5, cv2.approxPolyDP folds
# the stroke's outline over itself.
FOLDING_MASK = {
    "size": [118, 142],
    "counts": "Y22d310O10O1000O10O10O10O1XN;^OD=g0^OYO=n0@SO=R1AnN;W1DhN;[1DeN8`1FaN8`1I_N6d1I\\N4h1JYN5NROf1k0[N2k1LUN2k1OVN1j1OVNNl1XORNi010l13TNKm1YORNj02Lm16RNKm16SNIn16SNIl19SNFO\\Om1o0TNEm1;TNEj1=VNBj1?UNCh1?XNAe1a0\\N^Oe1b0ZN@a1d0_N\\O_1e0bNZO\\1i0cNZOY1h0gNXOW1i0jNYOo0l0QOQO0ZOj0h1UOoN1\\Ob0j1]OjN0P21PNOP20PN1P2OPN0P21PNOP20PN1P2OPN0P21PNOP21oM0Q2OPN1P2OPN0P21PNOP20PN1P2OPN0P21PNOP20PN1P2NQN1o1ORN1i21000O10O10OdN;hNEd0n0\\OSO>R1CmN:V1GjN5Y1KhN1[10eNKNSO_1S1bNIa18_NEc1;^NBd1?[N@O[Oe1V1\\N^Of1b0[N[Og1f0XNZOh1g0XNWOi1i0XNUOi1l0WNROj1o0UNPOl1Q1TNmNm1S1TNkNm1V1RNjNOJm1]1TNhNn1X1SNhNl1Y1SNeNo1\\1QNeNm1[1TNcNNNm1`1UNaNm1`1RN_No1b1QN^Nn1b1SN^Nl1c1SN]Nm1d1SN\\Nl1d131O1RNZNj1f131TNYNg1h131UNWNg1i1ZNXNd1i1[NWNe1j1[NXNb1h1_NXN`1i1_NYN_1h1aNZN\\1f1eN[NY1f1gN]NU1d1jN_NS1b1mNcNm0]1TOc1O10O10O10O1000O10O10O10O10O10O1000O10O10O`M",
}


def test_find_self_crossing_tells_crossing_from_touching() -> None:
    assert find_self_crossing([[4, 4], [40, 40], [40, 4], [4, 24]]) == (0, 2)
    assert find_self_crossing([[0, 0], [10, 0], [10, 10], [0, 10]]) is None
    # Two squares meeting at a corner, traced as one ring through the shared corner.
    touching = [[0, 0], [1, 0], [1, 1], [2, 1], [2, 2], [1, 2], [1, 1], [0, 1]]
    assert find_self_crossing(touching) is None
    with pytest.raises(GeometryError, match="crosses itself"):
        check_simple([{"outer": [[4, 4], [40, 40], [40, 4], [4, 24]], "holes": []}])


def test_adversarial_rings_are_refused_as_too_complex_not_checked_for_minutes() -> None:
    angles = np.linspace(0, 2 * math.pi, 50_000, endpoint=False)
    radius = np.where(np.arange(50_000) % 2 == 0, 1000.0, 1.0)  # 25000 long spikes
    spikes = np.c_[1000 + radius * np.cos(angles), 1000 + radius * np.sin(angles)].tolist()
    with pytest.raises(GeometryError, match="too complex"):
        find_self_crossing(spikes)


def test_simplified_outlines_never_cross_themselves() -> None:
    mask = rle_to_mask(FOLDING_MASK)
    # Plain Douglas-Peucker does fold this outline over itself ...
    rings, _ = _edge_contours(mask)
    folded = [
        cv2.approxPolyDP(ring.reshape(-1, 1, 2), 5.0, True).reshape(-1, 2).tolist()
        for ring in rings
    ]
    assert any(len(r) >= 4 and find_self_crossing(r) is not None for r in folded)
    # ... and mask_to_polygons lowers the tolerance for that ring until it does not.
    for tolerance in (1.0, 3.0, 5.0):
        polygons = mask_to_polygons(mask, tolerance)
        check_simple(polygons)
        assert iou(polygons_to_mask(polygons, *mask.shape), mask) > 0.9
