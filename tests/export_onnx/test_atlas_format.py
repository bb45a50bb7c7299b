"""The hover-atlas format: round trips, and every way a bad atlas is refused (no model needed).

`fixture_atlas` is also the fixture of the page's reader tests (frontend/tests/atlas.test.js):
``.venv/bin/python -m tests.export_onnx.test_atlas_format`` rewrites
frontend/tests/fixtures/atlas_small.{bin,json}, and a test below checks they are current.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from export_onnx import atlas_format as fmt
from export_onnx.atlas_format import AtlasFormatError, DecodedAtlas, decode_atlas, encode_atlas
from tests.conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "frontend" / "tests" / "fixtures"
KEY = bytes(range(16))


def fixture_atlas() -> DecodedAtlas:
    """A 30x45 image, a 2x3 grid, 10x15 stored masks covering the cases a reader can trip on."""
    h, w = 10, 15
    yy, xx = np.mgrid[:h, :w]
    rect = (yy >= 2) & (yy < 6) & (xx >= 3) & (xx < 9)
    disc = (yy - 6) ** 2 + (xx - 10) ** 2 <= 9
    corner = (yy < 3) & (xx < 4)  # starts inside: its runs begin with a 0 run
    full = np.ones((h, w), bool)  # one run of 150 pixels: a 2-byte varint
    masks = np.stack([rect, disc, corner, full])
    return DecodedAtlas(
        model_key=KEY,
        original_size=(30, 45),
        index=np.array([[0, 1, fmt.NO_MASK], [2, 3, 0]], np.uint16),
        masks=masks,
        predicted_iou=np.array([0.5, 0.9, 0.9, 0.1], np.float32),
        stability=np.array([0.8, 0.7, 0.95, 1.0], np.float32),
        boxes=np.array([[3, 2, 9, 6], [7, 3, 14, 10], [0, 0, 4, 3], [0, 0, 15, 10]], np.uint16),
    )


def fixture_json(atlas: DecodedAtlas) -> dict:
    return {
        "modelKey": atlas.model_key.hex(),
        "originalSize": list(atlas.original_size),
        "grid": list(atlas.index.shape),
        "maskSize": list(atlas.masks.shape[1:]),
        "index": atlas.index.ravel().tolist(),
        "predictedIou": atlas.predicted_iou.tolist(),
        "stability": atlas.stability.tolist(),
        "boxes": atlas.boxes.ravel().tolist(),
        "masks": ["".join("1" if v else "0" for v in m.ravel()) for m in atlas.masks],
    }


def write_fixture(folder: Path) -> None:
    atlas = fixture_atlas()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "atlas_small.bin").write_bytes(encode_atlas(atlas, model_key=atlas.model_key))
    (folder / "atlas_small.json").write_text(json.dumps(fixture_json(atlas), indent=1) + "\n")


def test_committed_fixture_of_the_pages_reader_is_current() -> None:
    atlas = fixture_atlas()
    decoded = decode_atlas((FIXTURES / "atlas_small.bin").read_bytes(), model_key=KEY)
    assert fixture_json(decoded) == fixture_json(atlas)
    assert json.loads((FIXTURES / "atlas_small.json").read_text()) == fixture_json(atlas)


def test_round_trip_keeps_every_field() -> None:
    atlas = fixture_atlas()
    decoded = decode_atlas(encode_atlas(atlas, model_key=KEY), model_key=KEY)
    assert decoded.original_size == (30, 45) and decoded.model_key == KEY
    for field in ("index", "masks", "predicted_iou", "stability", "boxes"):
        assert np.array_equal(getattr(decoded, field), getattr(atlas, field)), field


def test_runs_are_varints_with_a_leading_zero_run_for_a_mask_that_starts_inside() -> None:
    masks = np.zeros((2, 1, 200), bool)
    masks[0, 0, 3:5] = True  # runs 3, 2, 195 (195 = 0xC3 0x01)
    masks[1, 0, :1] = True  # runs 0, 1, 199
    assert fmt.mask_runs(masks) == bytes([3, 2, 0xC3, 0x01, 0, 1, 0xC7, 0x01])
    runs = np.frombuffer(fmt.mask_runs(masks), np.uint8)
    assert np.array_equal(fmt.runs_to_masks(runs, 2, 1, 200), masks)


def test_an_atlas_with_no_masks_round_trips() -> None:
    empty = DecodedAtlas(
        KEY, (5, 5), np.full((2, 2), fmt.NO_MASK, np.uint16), np.zeros((0, 4, 4), bool),
        np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros((0, 4), np.uint16),
    )  # fmt: skip
    assert decode_atlas(encode_atlas(empty, model_key=KEY)).masks.shape == (0, 4, 4)


def _reencode(data: bytes, payload: bytes, **fields: int) -> bytes:
    """The same header (with `fields` changed) over another payload, zlib-valid."""
    names = ["magic", "version", "code", "key", "height", "width", "rows", "cols", "h", "w",
             "n", "size", "packed", "reserved"]  # fmt: skip
    values = dict(zip(names, fmt._HEADER.unpack_from(data), strict=True))
    packed = zlib.compress(payload)
    values.update(size=len(payload), packed=len(packed))
    values.update(fields)
    return fmt._HEADER.pack(*values.values()) + packed


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :]


def _with_box(payload: bytes, box: list[int]) -> bytes:
    at = fmt._payload_layout(2, 3, 4, 10, 15)[1]
    return payload[:at] + struct.pack("<4H", *box) + payload[at + 8 :]


def _payload(data: bytes) -> bytes:
    return zlib.decompress(data[fmt.HEADER_SIZE :])


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: d[:40], "too short"),
        (lambda d: d[:-1], "header says"),
        (lambda d: d + b"\0", "header says"),
        (lambda d: b"SAME" + d[4:], "not a hover atlas"),
        (lambda d: d[:4] + struct.pack("<H", 2) + d[6:], "version 2"),
        (lambda d: _flip(d, 100), "corrupt"),
        (lambda d: _flip(d, len(d) - 2), "corrupt"),  # the Adler-32
        (lambda d: _reencode(d, _payload(d), rows=300), "grid"),
        (lambda d: _reencode(d, _payload(d), h=2000), "mask size"),
        (lambda d: _reencode(d, _payload(d), n=7), "masks for 6 cells"),
        (lambda d: _reencode(d, _payload(d), size=1 << 30), "cannot hold"),
        (lambda d: _reencode(d, _payload(d), size=len(_payload(d)) - 1), "other than"),
        (lambda d: _reencode(d, struct.pack("<H", 9) + _payload(d)[2:]), "past the masks"),
        (lambda d: _reencode(d, _payload(d)[:-1]), "runs"),
        (lambda d: _reencode(d, _payload(d) + b"\x05"), "after the last mask"),
        (lambda d: _reencode(d, _with_box(_payload(d), [3, 2, 9, 7])), "box"),
    ],
)
def test_a_bad_atlas_is_refused_with_a_clear_error(
    mangle: Callable[[bytes], bytes], message: str
) -> None:
    data = encode_atlas(fixture_atlas(), model_key=KEY)
    with pytest.raises(AtlasFormatError, match=message):
        decode_atlas(mangle(data))


def test_an_atlas_of_another_model_is_refused() -> None:
    data = encode_atlas(fixture_atlas(), model_key=KEY)
    with pytest.raises(AtlasFormatError, match="another model"):
        decode_atlas(data, model_key=bytes(16))
    with pytest.raises(AtlasFormatError, match="another model"):
        fmt.read_header(data, model_key=bytes(16))


def test_the_header_alone_says_what_the_atlas_holds() -> None:
    data = encode_atlas(fixture_atlas(), model_key=KEY)
    header = fmt.read_header(data, model_key=KEY)
    assert (header.original_size, header.grid, header.mask_size, header.count) == (
        (30, 45), (2, 3), (10, 15), 4
    )  # fmt: skip
    assert header.packed_size == len(data) - fmt.HEADER_SIZE


def test_format_imports_without_torch() -> None:
    """The web process serves atlases and never imports torch."""
    code = "import sys, export_onnx.atlas_format; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


if __name__ == "__main__":
    write_fixture(FIXTURES)
