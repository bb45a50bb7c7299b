"""Joining an object's parts into one YOLO-seg ring and splitting a line back into parts."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.formats import DatasetAnnotation, FormatError
from annotator.formats.yolo_segments import join_rings, outer_rings, split_line
from annotator.geometry import Polygon, mask_to_rle, polygons_to_mask
from tests.formats.helpers import disc, iou


def square(x: float, y: float, size: float) -> np.ndarray:
    return np.array([[x, y], [x + size, y], [x + size, y + size], [x, y + size]], float)


def cycles(rings: list[np.ndarray]) -> set[frozenset[tuple[float, float]]]:
    return {frozenset(map(tuple, ring.tolist())) for ring in rings}


def test_a_lone_ring_is_written_and_read_unchanged() -> None:
    ring = square(2, 3, 10)
    assert np.array_equal(join_rings([ring]), ring)
    (polygon,) = split_line(ring)
    assert polygon == {"outer": ring.tolist(), "holes": []}


def test_joined_parts_split_back_into_the_same_parts() -> None:
    parts = [square(0, 0, 10), square(50, 0, 10), square(25, 40, 5), square(0, 80, 8)]
    joined = join_rings(parts)
    # Every part's vertices plus the two ends of each of the three bridges, written twice.
    assert len(joined) == sum(len(p) for p in parts) + 2 * 3
    polygons = split_line(joined)
    assert all(p["holes"] == [] for p in polygons)
    assert cycles([np.array(p["outer"]) for p in polygons]) == cycles(parts)


def test_parts_are_joined_nearest_first_so_bridges_stay_short() -> None:
    # Listed left, right, middle: joining in list order would bridge left to right (80 px).
    parts = [square(0, 0, 10), square(90, 0, 10), square(45, 0, 10)]
    joined = join_rings(parts)
    steps = np.linalg.norm(np.diff(np.vstack([joined, joined[:1]]), axis=0), axis=1)
    bridges = steps[steps > 10]
    assert len(bridges) == 4 and bridges.max() == pytest.approx(35)


def test_a_loop_inside_another_is_its_hole_by_the_even_odd_rule() -> None:
    # What cv2.fillPoly (Ultralytics' rasteriser) draws from a keyhole: a square with a hole.
    outer, inner = square(0, 0, 30), square(10, 10, 10)
    (polygon,) = split_line(join_rings([outer, inner]))
    assert polygon["outer"] == outer.tolist()
    assert cycles([np.array(h) for h in polygon["holes"]]) == cycles([inner])
    # A third loop inside the hole is an outer ring again (an island).
    island = square(13, 13, 4)
    polygons = split_line(join_rings([outer, inner, island]))
    mask = polygons_to_mask(polygons, 40, 40)
    assert mask[5, 5] and not mask[11, 11] and mask[15, 15]


def test_a_line_that_encloses_nothing_or_repeats_points_is_handled() -> None:
    with pytest.raises(FormatError, match="encloses no area"):
        split_line(np.array([[0, 0], [5, 5], [10, 10]], float))
    doubled = np.array([[0, 0], [10, 0], [10, 0], [10, 10], [0, 10]], float)
    (polygon,) = split_line(doubled)
    assert len(polygon["outer"]) == 4


def test_outer_rings_fill_holes_and_drop_a_part_inside_a_hole() -> None:
    ring = disc(100, 100, 50, 50, 40) & ~disc(100, 100, 50, 50, 20)
    island = disc(100, 100, 50, 50, 8)
    apart = disc(100, 100, 92, 92, 5)
    rings = outer_rings(DatasetAnnotation("cat", mask=ring | island | apart), 100, 100)
    assert len(rings) == 2
    polygons: list[Polygon] = [{"outer": r.tolist(), "holes": []} for r in rings]
    filled = disc(100, 100, 50, 50, 40) | apart
    assert iou(polygons_to_mask(polygons, 100, 100), filled) >= 0.99


def test_outer_rings_of_an_rle_annotation_in_several_parts() -> None:
    # Decoded RLE is column-major (what the export service passes for stored masks).
    mask = disc(60, 80, 20, 20, 12) | disc(60, 80, 60, 40, 10)
    rle = mask_to_rle(mask)
    rings = outer_rings(DatasetAnnotation("cat", rle=rle), 60, 80)
    assert len(rings) == 2
    polygons: list[Polygon] = [{"outer": r.tolist(), "holes": []} for r in rings]
    assert iou(polygons_to_mask(polygons, 60, 80), mask) >= 0.99
