"""The hover-atlas format: how the server stores and sends one image's hover atlas.

Numpy and zlib only, so the Django web process (which never imports torch) can read, check and
serve it, as it does the embedding (`export_onnx.wire`). The atlas itself is computed by
`annotator.sam.atlas`; frontend/src/decoder/atlas.js reads this format in the browser.

Why this layout: the payload is one zlib stream (RFC 1950, what the browser's
``DecompressionStream("deflate")`` inflates natively), so its Adler-32 catches corruption of every
byte after the header, and the header caps how big the inflated payload may be, so a reader never
inflates more than that (no zip bomb). Masks are run lengths (COCO's convention) as LEB128
varints: on object-like masks bench/atlas.py measured this at 0.41x the size of bit-packed masks
under the same deflate, 0.68x of uint16 runs and 0.31x of PNG (bench/RESULTS.md), and painting a
run-length mask is filling spans.

Byte layout (little-endian):

=======  =============  ===================================================================
offset   type           meaning
=======  =============  ===================================================================
0        4 bytes        magic ``b"SAMA"``
4        uint16         format version (1)
6        uint16         code: 1 = run-length masks, zlib payload
8        16 bytes       model key: first 16 bytes of the checkpoint's sha256 (as the wire format)
24       uint32 x 2     original image height, width in pixels
32       uint16 x 2     grid rows, cols
36       uint16 x 2     stored mask height, width in pixels
40       uint32         N, the number of unique masks
44       uint32         payload size after inflating
48       uint32         payload size compressed (the file is exactly 64 + this)
52       12 bytes       reserved, zero
64       zlib stream    the payload
=======  =============  ===================================================================

Payload: ``uint16 index[rows * cols]`` (row-major, the mask of each cell, 0xFFFF = no mask), zero
padding to a multiple of 4, ``float32 predicted_iou[N]``, ``float32 stability[N]``, ``uint16
boxes[N * 4]`` (XYXY in stored-mask pixels, end exclusive), then the N masks' runs: each mask's
pixels row-major as alternating run lengths, outside first (so a mask that starts inside starts
with a 0 run, and no other run is 0), summing to exactly h * w; each run an unsigned LEB128
varint (7 bits a byte, low first, high bit = more bytes follow; at most 3 bytes, as h * w <=
2**20). The runs are canonical: the reader refuses anything the writer would not have written.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

MAGIC = b"SAMA"
VERSION = 1
CODE_RUNS_ZLIB = 1
HEADER_SIZE = 64
NO_MASK = 0xFFFF
MAX_GRID = 256
MAX_MASK_SIDE = 1024
#: Refuse anything bigger: 64 MiB inflated is far above any atlas the worker writes.
MAX_PAYLOAD = 64 << 20
_HEADER = struct.Struct("<4sHH16s2I4H3I12s")
assert _HEADER.size == HEADER_SIZE


class AtlasFormatError(ValueError):
    """The bytes are not a hover atlas in this format, or not one for this model."""


class AtlasLike(Protocol):
    """What `encode_atlas` needs (`annotator.sam.atlas.HoverAtlas` has it)."""

    original_size: tuple[int, int]
    index: np.ndarray
    masks: np.ndarray
    predicted_iou: np.ndarray
    stability: np.ndarray
    boxes: np.ndarray


@dataclass(frozen=True)
class DecodedAtlas:
    """A parsed atlas; the fields of `annotator.sam.atlas.HoverAtlas` plus the model key.

    Attributes:
        model_key: 16 bytes, the checkpoint the masks came from.
        original_size: (H, W) of the image in pixels.
        index: (rows, cols) uint16, `NO_MASK` for an empty cell.
        masks: (N, h, w) bool in the stored frame.
        predicted_iou, stability: (N,) float32.
        boxes: (N, 4) uint16 XYXY in stored-mask pixels, end exclusive.
    """

    model_key: bytes
    original_size: tuple[int, int]
    index: np.ndarray
    masks: np.ndarray
    predicted_iou: np.ndarray
    stability: np.ndarray
    boxes: np.ndarray


def _payload_layout(rows: int, cols: int, n: int, h: int, w: int) -> tuple[int, int, int, int]:
    """Offsets of the scores, boxes and runs in the payload, and its largest possible size."""
    index_bytes = 2 * rows * cols
    scores = index_bytes + (-index_bytes) % 4
    boxes = scores + 8 * n
    runs = boxes + 8 * n
    # At most h * w + 1 runs per mask (alternating pixels), 3 bytes each.
    return scores, boxes, runs, runs + n * 3 * (h * w + 1)


def mask_runs(masks: np.ndarray) -> bytes:
    """(N, h, w) bool -> the N masks' run lengths as LEB128 varints (see the module docstring)."""
    parts = []
    for mask in masks.reshape(masks.shape[0], masks.shape[1] * masks.shape[2]):
        change = np.flatnonzero(mask[1:] != mask[:-1]) + 1
        runs = np.diff(np.concatenate([[0], change, [mask.size]]))
        if mask[0]:
            runs = np.concatenate([[0], runs])
        parts.append(runs)
    runs = np.concatenate(parts).astype(np.uint32) if parts else np.zeros(0, np.uint32)
    width = 1 + (runs >= 1 << 7) + (runs >= 1 << 14)
    out = np.zeros((runs.size, 3), np.uint8)
    for i in range(3):
        more = width > i + 1
        out[:, i] = ((runs >> (7 * i)) & 0x7F) | (more * 0x80)
    keep = np.arange(3)[None, :] < width[:, None]
    return out[keep].tobytes()


def runs_to_masks(data: np.ndarray, n: int, h: int, w: int) -> np.ndarray:
    """LEB128 run lengths -> (N, h, w) bool; `AtlasFormatError` unless they are what
    `mask_runs` writes for N masks of h x w."""
    if data.size and data[-1] & 0x80:
        raise AtlasFormatError("mask runs end inside a varint")
    ends = np.flatnonzero((data & 0x80) == 0)
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    widths = ends - starts + 1
    if widths.size and widths.max() > 3:
        raise AtlasFormatError("a mask run is longer than 3 bytes")
    group = np.repeat(np.arange(ends.size), widths)
    shift = 7 * (np.arange(data.size) - starts[group])
    runs = np.bincount(group, (data & 0x7F).astype(np.int64) << shift, ends.size).astype(np.int64)
    masks = np.zeros((n, h * w), bool)
    at = 0
    for k in range(n):
        total, inside, pos = 0, False, 0
        first = at
        while total < h * w and at < runs.size:
            if runs[at] == 0 and at != first:
                raise AtlasFormatError("a mask run is empty")
            if inside:
                masks[k, total : total + runs[at]] = True
            total += int(runs[at])
            inside, at, pos = not inside, at + 1, pos + 1
        if total != h * w:
            raise AtlasFormatError(f"mask {k}'s runs cover {total} pixels, not {h * w}")
    if at != runs.size:
        raise AtlasFormatError("bytes after the last mask's runs")
    return masks.reshape(n, h, w)


def encode_atlas(atlas: AtlasLike, *, model_key: bytes, level: int = 9) -> bytes:
    """Encode an atlas.

    Arguments:
        atlas: unique masks, index and scores (see `DecodedAtlas` for shapes and dtypes).
        model_key: 16 bytes tying the atlas to its checkpoint (`wire.model_key_from_sha256`).
        level: zlib level; 9 costs milliseconds here and shrinks the file.
    Returns:
        The encoded bytes.
    """
    if len(model_key) != 16:
        raise ValueError("model_key must be 16 bytes")
    masks = np.asarray(atlas.masks, dtype=bool)
    n, h, w = masks.shape
    index = np.asarray(atlas.index)
    rows, cols = index.shape
    height, width = (int(v) for v in atlas.original_size)
    _check_shapes(rows, cols, h, w, n, height, width)
    if index.size and not np.all((index < n) | (index == NO_MASK)):
        raise ValueError("index points past the masks")
    iou = np.asarray(atlas.predicted_iou, dtype="<f4").reshape(n)
    stability = np.asarray(atlas.stability, dtype="<f4").reshape(n)
    boxes = np.asarray(atlas.boxes, dtype="<u2").reshape(n, 4)
    scores_at = _payload_layout(rows, cols, n, h, w)[0]
    padding = b"\x00" * (scores_at - 2 * rows * cols)
    payload = b"".join(
        [
            index.astype("<u2").tobytes(),
            padding,
            iou.tobytes(),
            stability.tobytes(),
            boxes.tobytes(),
            mask_runs(masks),
        ]
    )
    packed = zlib.compress(payload, level)
    header = _HEADER.pack(
        MAGIC, VERSION, CODE_RUNS_ZLIB, model_key, height, width, rows, cols, h, w, n,
        len(payload), len(packed), b"",
    )  # fmt: skip
    return header + packed


def _check_shapes(rows: int, cols: int, h: int, w: int, n: int, height: int, width: int) -> None:
    if not (1 <= rows <= MAX_GRID and 1 <= cols <= MAX_GRID):
        raise AtlasFormatError(f"grid {rows}x{cols} is outside 1..{MAX_GRID}")
    if not (1 <= h <= MAX_MASK_SIDE and 1 <= w <= MAX_MASK_SIDE):
        raise AtlasFormatError(f"mask size {h}x{w} is outside 1..{MAX_MASK_SIDE}")
    if n > rows * cols or n >= NO_MASK:
        raise AtlasFormatError(f"{n} masks for {rows * cols} cells")
    if height < 1 or width < 1:
        raise AtlasFormatError(f"image size {height}x{width} must be positive")


@dataclass(frozen=True)
class AtlasHeader:
    """Header fields of one encoded atlas (checked by `read_header`).

    Attributes:
        model_key: 16 bytes, the checkpoint the masks came from.
        original_size: (H, W) of the image in pixels.
        grid: (rows, cols) of cells.
        mask_size: (h, w) of the stored masks.
        count: N, the number of unique masks.
        payload_size, packed_size: the payload's bytes inflated and as stored.
    """

    model_key: bytes
    original_size: tuple[int, int]
    grid: tuple[int, int]
    mask_size: tuple[int, int]
    count: int
    payload_size: int
    packed_size: int


def read_header(
    data: bytes | bytearray | memoryview, *, model_key: bytes | None = None
) -> AtlasHeader:
    """Parse and check an atlas's header without inflating it (cheap: for serving).

    Raises:
        AtlasFormatError: not an atlas, another version or model, or sizes that do not add up.
    """
    view = memoryview(data).cast("B")
    if len(view) < HEADER_SIZE:
        raise AtlasFormatError(f"{len(view)} bytes is too short for an atlas header")
    magic, version, code, key, height, width, rows, cols, h, w, n, size, packed, _ = (
        _HEADER.unpack_from(view)
    )
    if magic != MAGIC:
        raise AtlasFormatError(f"not a hover atlas (magic {bytes(magic)!r})")
    if version != VERSION or code != CODE_RUNS_ZLIB:
        raise AtlasFormatError(f"unsupported atlas version {version} code {code}")
    if model_key is not None and bytes(key) != model_key:
        raise AtlasFormatError(
            f"atlas was computed by another model (key {bytes(key).hex()}, "
            f"expected {model_key.hex()})"
        )
    _check_shapes(rows, cols, h, w, n, height, width)
    _, _, runs_at, largest = _payload_layout(rows, cols, n, h, w)
    if not runs_at + n <= size <= min(largest, MAX_PAYLOAD):
        raise AtlasFormatError(f"payload of {size} bytes cannot hold {n} masks of {h}x{w}")
    if len(view) != HEADER_SIZE + packed:
        raise AtlasFormatError(f"atlas has {len(view)} bytes, header says {HEADER_SIZE + packed}")
    return AtlasHeader(bytes(key), (height, width), (rows, cols), (h, w), n, size, packed)


def decode_atlas(
    data: bytes | bytearray | memoryview, *, model_key: bytes | None = None
) -> DecodedAtlas:
    """Parse and check an encoded atlas.

    Arguments:
        data: the encoded bytes.
        model_key: if given, the atlas must have been computed by this checkpoint.
    Raises:
        AtlasFormatError: everything `read_header` refuses, a corrupt payload, an index past the
            masks, runs that do not cover the masks, or a box that is not its mask's.
    """
    header = read_header(data, model_key=model_key)
    (rows, cols), (h, w), n = header.grid, header.mask_size, header.count
    size = header.payload_size
    scores_at, boxes_at, runs_at, _ = _payload_layout(rows, cols, n, h, w)
    payload = _inflate(memoryview(data).cast("B")[HEADER_SIZE:], size)
    index = np.frombuffer(payload, "<u2", rows * cols).reshape(rows, cols)
    if not np.all((index < n) | (index == NO_MASK)):
        raise AtlasFormatError("index points past the masks")
    masks = runs_to_masks(np.frombuffer(payload, np.uint8, size - runs_at, runs_at), n, h, w)
    boxes = np.frombuffer(payload, "<u2", 4 * n, boxes_at).reshape(n, 4)
    if not np.array_equal(boxes, _boxes(masks)):
        raise AtlasFormatError("a mask box is not its mask's")
    return DecodedAtlas(
        model_key=header.model_key,
        original_size=header.original_size,
        index=index,
        masks=masks,
        predicted_iou=np.frombuffer(payload, "<f4", n, scores_at),
        stability=np.frombuffer(payload, "<f4", n, scores_at + 4 * n),
        boxes=boxes,
    )


def _boxes(masks: np.ndarray) -> np.ndarray:
    """(N, h, w) bool -> (N, 4) XYXY end exclusive; an empty mask (never stored) gets zeros."""
    boxes = np.zeros((masks.shape[0], 4), np.uint16)
    for i, mask in enumerate(masks):
        ys = np.flatnonzero(mask.any(axis=1))
        xs = np.flatnonzero(mask.any(axis=0))
        if ys.size:
            boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes


def _inflate(packed: memoryview, size: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        # At most one byte more than promised: enough to tell "too long" from "exact".
        payload = inflater.decompress(packed, size + 1)
    except zlib.error as err:
        raise AtlasFormatError(f"corrupt atlas payload ({err})") from err
    if len(payload) != size or not inflater.eof or inflater.unused_data:
        raise AtlasFormatError(f"atlas payload inflates to other than {size} bytes")
    return payload
