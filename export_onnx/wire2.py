"""The SAM 2 feature wire format: image_embed + both high-res maps of one image, compact.

Numpy only (the web process never imports torch); the page reads it in
`frontend/src/decoder/wire2.js`, which decodes to the same float32 values as `decode_features`
(tests/export_onnx/test_sam2_wire.py holds the two against each other).

Why this code: float32 features are 16,777,216 bytes per image (``image_embed`` 256x64x64,
``high_res_feats_0`` 32x256x256, ``high_res_feats_1`` 64x128x128); the budget is 2.5 MB, and
the goal a mean mask IoU of 0.99 against float32 on the SAM 2.1 pack. Version 1 (per-channel
Lloyd-Max codebooks at 4/5/4 bits, `export_onnx.wire2_v1`) reaches 0.988 in 2,383,936 bytes.
Version 2 codes each channel's 2x2 Haar bands instead (LL, LH, HL, HH, orthonormal:
neighbouring pixels are correlated, so the energy gathers in LL and the detail bands need few
bits), each (tensor, channel, band) with its own Lloyd-Max codebook at 1 to 6 bits. The bits go
where they buy most: every unit starts at 1 bit, then the unit whose squared error (relative to
its tensor's energy, so that no tensor's scale decides) falls most per added byte gets one more,
until `MAX_BYTES`. Haar is orthonormal, so band errors add up to the map's error. Measured in
bench/RESULTS.md ("SAM 2.1 feature precision: wire format version 2"): mean mask IoU 0.9919
(min 0.9824) in 2,499,968 bytes, against version 1's 0.9880 (0.9735); the encoder takes 1.65 s
per image on one core (each unit sorted once, its six codebooks and their errors from prefix
sums: `export_onnx.codebook`), the decode 28 ms (numpy) and 24 ms (the page's, in node).

Bands of a 2x2 block with top-left a, top-right b, bottom-left c, bottom-right d:
LL = (a + b + c + d) / 2, LH = (a - b + c - d) / 2, HL = (a + b - c - d) / 2,
HH = (a - b - c + d) / 2; the inverse is the same matrix (`unhaar`).

Every value is ``table[unit, code]``, then the inverse Haar in float32 with a fixed order of
operations (`unhaar`), so that numpy and the page's JavaScript give identical floats.

Layout (little-endian; every section starts at a multiple of 4):

=======  ==========  ===========================================================
offset   type        meaning
=======  ==========  ===========================================================
0        4 bytes     magic ``b"SAM2"``
4        uint16      format version (2; 1 is still read, see `export_onnx.wire2_v1`)
6        uint16      number of tensors (3)
8        16 bytes    model key: first 16 bytes of the checkpoint's sha256 digest
24       uint32 x 2  original image height, width (0 if unknown)
32       uint32      header size (64)
36       uint32      total size in bytes (at most `MAX_BYTES`)
40       24 bytes    reserved, zero
64       uint8 x U   bits of each unit (1..6); units in `TENSORS` order, then channel, then
                     band (LL, LH, HL, HH): U = 4 * (256 + 32 + 64) = 1,408
64 + U   float32     each unit's table, 2^bits levels, ascending, in unit order
...      uint8       each unit's codes, in unit order: ``bits`` planes of N/8 bytes, most
                     significant bit plane first; in a plane, value i of the band (row-major
                     (H/2, W/2)) is bit ``7 - i % 8`` of byte ``i // 8``
=======  ==========  ===========================================================
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from . import wire2_v1
from .codebook import LLOYD_ITERATIONS, SortedValues, codes, lloyd

MAGIC = b"SAM2"
VERSION = 2
READABLE_VERSIONS = (1, 2)
HEADER_SIZE = 64
_HEADER = struct.Struct("<4sHH16s2III24s")
assert _HEADER.size == HEADER_SIZE
MAX_BYTES = 2_500_000  # the budget per image, header and tables included
MIN_BITS, MAX_BITS = 1, 6


@dataclass(frozen=True)
class TensorCode:
    name: str
    shape: tuple[int, int, int]

    @property
    def band_size(self) -> int:
        """Values per band of one channel: (H/2) * (W/2)."""
        return self.shape[1] * self.shape[2] // 4


TENSORS = (
    TensorCode("image_embed", (256, 64, 64)),
    TensorCode("high_res_feats_0", (32, 256, 256)),
    TensorCode("high_res_feats_1", (64, 128, 128)),
)
UNITS = sum(4 * t.shape[0] for t in TENSORS)
#: Values per unit, in unit order.
UNIT_SIZES = np.concatenate([np.full(4 * t.shape[0], t.band_size) for t in TENSORS])


class WireFormatError(ValueError):
    """The bytes are not SAM 2 features in a format this reader knows, or not for this model."""


@dataclass(frozen=True)
class Header:
    model_key: bytes
    original_size: tuple[int, int]
    version: int = VERSION


def model_key_from_sha256(sha256_hex: str) -> bytes:
    """The 16-byte model key, from a checkpoint's sha256 hex digest (as `export_onnx.wire`)."""
    return bytes.fromhex(sha256_hex)[:16]


def manifest_entry(model_key: bytes) -> dict[str, object]:
    """What ``manifest.json`` says about the wire format (``features.wire``)."""
    return {
        "format": MAGIC.decode(),
        "version": VERSION,
        "reads": list(READABLE_VERSIONS),
        "code": "2x2 Haar bands, Lloyd-Max codebook per (tensor, channel, band) at 1-6 bits",
        "header_bytes": HEADER_SIZE,
        "max_bytes": MAX_BYTES,
        "model_key": model_key.hex(),
    }


def size_of(bits: np.ndarray) -> int:
    """Bytes of a version 2 file whose units have these bits."""
    b = np.asarray(bits, np.int64)
    return int(HEADER_SIZE + UNITS + np.sum(4 * (1 << b) + b * UNIT_SIZES // 8))


def haar(x: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (C, 4, H/2 * W/2): orthonormal 2x2 Haar bands LL, LH, HL, HH per channel."""
    a, b = x[:, 0::2, 0::2], x[:, 0::2, 1::2]
    c, d = x[:, 1::2, 0::2], x[:, 1::2, 1::2]
    bands = np.stack([a + b + c + d, a - b + c - d, a + b - c - d, a - b - c + d], axis=1) / 2
    return bands.reshape(x.shape[0], 4, -1)


def unhaar(bands: np.ndarray, h: int, w: int) -> np.ndarray:
    """(C, 4, h/2 * w/2) float32 -> (C, h, w) float32; each sum left to right, then halved
    (exact), as `frontend/src/decoder/wire2.js` computes it."""
    ll, lh, hl, hh = (bands[:, k].reshape(-1, h // 2, w // 2) for k in range(4))
    half = np.float32(0.5)
    out = np.empty((bands.shape[0], h, w), np.float32)
    out[:, 0::2, 0::2] = (ll + lh + hl + hh) * half
    out[:, 0::2, 1::2] = (ll - lh + hl - hh) * half
    out[:, 1::2, 0::2] = (ll + lh - hl - hh) * half
    out[:, 1::2, 1::2] = (ll - lh - hl + hh) * half
    return out


def allocate(errors: np.ndarray, weights: np.ndarray, budget: int = MAX_BYTES) -> np.ndarray:
    """Bits per unit: from `MIN_BITS`, greedily one more bit to the unit whose weighted error
    falls most per added byte, while the file stays within `budget`.

    Arguments:
        errors: (UNITS, MAX_BITS - MIN_BITS + 1) squared error of each unit at each bit width.
        weights: (UNITS,) factor of each unit's error (1 / its tensor's energy).
    """
    bits = np.full(UNITS, MIN_BITS)
    size = size_of(bits)
    heap: list[tuple[float, int]] = []

    def cost(i: int) -> int:  # one more bit plane, and the table doubles
        return int(UNIT_SIZES[i] // 8 + 4 * (1 << bits[i]))

    def push(i: int) -> None:
        b = bits[i] - MIN_BITS
        if bits[i] < MAX_BITS:
            gain = (errors[i, b] - errors[i, b + 1]) * weights[i]
            heapq.heappush(heap, (-gain / cost(i), i))

    for i in range(UNITS):
        push(i)
    while heap:
        _, i = heapq.heappop(heap)
        if size + cost(i) > budget:
            continue
        size += cost(i)
        bits[i] += 1
        push(i)
    return bits


def _validated(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for t in TENSORS:
        x = np.asarray(features[t.name], np.float32)
        if x.shape not in (t.shape, (1, *t.shape)):
            raise ValueError(f"{t.name} must be (1, {t.shape}), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{t.name} contains NaN or infinity")
        out[t.name] = x.reshape(t.shape)
    return out


def _header(version: int, model_key: bytes, original_size: tuple[int, int], total: int) -> bytes:
    if len(model_key) != 16:
        raise ValueError("model_key must be 16 bytes")
    return _HEADER.pack(MAGIC, version, len(TENSORS), model_key, *original_size, HEADER_SIZE,
                        total, b"")  # fmt: skip


def encode_features(
    features: dict[str, np.ndarray],
    *,
    model_key: bytes = b"\x00" * 16,
    original_size: tuple[int, int] = (0, 0),
    iterations: int = LLOYD_ITERATIONS,
) -> bytes:
    """Encode ``image_embed``, ``high_res_feats_0``, ``high_res_feats_1`` ((1, C, H, W) float32,
    as ``SAM2ImagePredictor._features`` holds them) into at most `MAX_BYTES` bytes.

    ``iterations``: Lloyd steps per codebook (the encoder's cost; bench/sam2_precision.py).
    """
    x = _validated(features)
    _header(VERSION, model_key, original_size, 0)  # refuses a bad key before the work
    sorted_units: list[SortedValues] = []
    rows: list[np.ndarray] = []  # one per unit
    weights: list[np.ndarray] = []
    for t in TENSORS:
        bands = haar(x[t.name].astype(np.float64)).reshape(-1, t.band_size)
        rows += list(bands)
        sorted_units += [SortedValues.of(r) for r in bands]
        energy = float(np.sum(x[t.name].astype(np.float64) ** 2))
        weights.append(np.full(len(bands), 1.0 / max(energy, 1e-30)))
    widths = range(MIN_BITS, MAX_BITS + 1)
    books = [[lloyd(s, 1 << b, iterations=iterations) for b in widths] for s in sorted_units]
    errors = np.array([[e for _, e in unit] for unit in books])
    bits = allocate(errors, np.concatenate(weights))
    tables, planes = [], []
    for i, values in enumerate(rows):
        book = books[i][bits[i] - MIN_BITS][0]
        tables.append(book.astype("<f4").tobytes())
        c = codes(values, book)
        shifts = np.arange(bits[i] - 1, -1, -1, dtype=np.uint8)[:, None]
        planes.append(np.packbits((c[None] >> shifts) & 1, axis=1).tobytes())
    total = size_of(bits)
    data = b"".join([_header(VERSION, model_key, original_size, total),
                     bits.astype(np.uint8).tobytes(), *tables, *planes])  # fmt: skip
    assert len(data) == total <= MAX_BYTES
    return data


def encode_features_v1(
    features: dict[str, np.ndarray],
    *,
    model_key: bytes = b"\x00" * 16,
    original_size: tuple[int, int] = (0, 0),
) -> bytes:
    """The same features in version 1 (`export_onnx.wire2_v1`), as stored before version 2."""
    body = wire2_v1.encode_body(_validated(features))
    return _header(1, model_key, original_size, wire2_v1.TOTAL_BYTES) + body


def read_header(data: bytes | bytearray | memoryview, model_key: bytes | None = None) -> Header:
    """Check the header and the layout it implies (and, if given, that it belongs to
    `model_key`): after this, decoding cannot read out of bounds.

    Raises:
        WireFormatError: not this format, an unknown version, a size that does not match the
            layout or exceeds `MAX_BYTES`, bits out of range, a table that is not finite, or
            another model's key.
    """
    if len(data) < HEADER_SIZE:
        raise WireFormatError(f"{len(data)} bytes is too short for SAM 2 features")
    magic, version, count, key, oh, ow, header_size, total, reserved = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise WireFormatError(f"not SAM 2 features (magic {magic!r})")
    if version not in READABLE_VERSIONS or count != len(TENSORS) or header_size != HEADER_SIZE:
        raise WireFormatError(f"unsupported SAM 2 feature version {version}")
    if total != len(data):
        raise WireFormatError(f"SAM 2 features have {len(data)} bytes, the header says {total}")
    buf = memoryview(data).cast("B")
    if version == 1:
        if total != wire2_v1.TOTAL_BYTES:
            raise WireFormatError(
                f"SAM 2 features v1 have {total} bytes, not {wire2_v1.TOTAL_BYTES}"
            )
        tables = wire2_v1.tables(buf)
    else:
        if reserved != bytes(24):
            raise WireFormatError("SAM 2 features: reserved header bytes are not zero")
        if total > MAX_BYTES or total < HEADER_SIZE + UNITS:
            raise WireFormatError(f"SAM 2 features have {total} bytes, allowed at most {MAX_BYTES}")
        bits = np.frombuffer(buf, np.uint8, UNITS, HEADER_SIZE)
        if bits.min() < MIN_BITS or bits.max() > MAX_BITS:
            raise WireFormatError(f"SAM 2 features: bits must be {MIN_BITS} to {MAX_BITS}")
        if size_of(bits) != total:
            raise WireFormatError(
                f"SAM 2 features have {total} bytes, their bits say {size_of(bits)}"
            )
        levels = int(np.sum(1 << bits.astype(np.int64)))
        tables = [np.frombuffer(buf, "<f4", levels, HEADER_SIZE + UNITS)]
    if not all(np.isfinite(t).all() for t in tables):
        raise WireFormatError("SAM 2 features: a codebook holds NaN or infinity")
    if model_key is not None and key != b"\x00" * 16 and bytes(key) != model_key:
        raise WireFormatError(f"features of model key {bytes(key).hex()}, not {model_key.hex()}")
    return Header(bytes(key), (oh, ow), version)


@dataclass(frozen=True)
class Unit:
    """One (tensor, channel, band) codebook of a version 2 file."""

    tensor: int
    channel: int
    band: int
    table: np.ndarray  # (2^bits,) float32
    codes: np.ndarray  # (N,) uint8


def units(data: bytes | bytearray | memoryview) -> Iterator[Unit]:
    """The units of a version 2 file, in wire order (checked first)."""
    if read_header(data).version != 2:
        raise WireFormatError("SAM 2 features v1 have no (channel, band) units")
    buf = memoryview(data).cast("B")
    bits = np.frombuffer(buf, np.uint8, UNITS, HEADER_SIZE).astype(np.int64)
    table_at = HEADER_SIZE + UNITS + np.concatenate([[0], np.cumsum(4 * (1 << bits))])
    plane_at = table_at[-1] + np.concatenate([[0], np.cumsum(bits * UNIT_SIZES // 8)])
    i = 0
    for ti, t in enumerate(TENSORS):
        n = t.band_size
        for channel in range(t.shape[0]):
            for band in range(4):
                b = int(bits[i])
                planes = np.frombuffer(buf, np.uint8, b * n // 8, int(plane_at[i]))
                c = np.zeros(n, np.uint8)
                for plane in np.unpackbits(planes).reshape(b, n):
                    c <<= 1
                    c |= plane
                table = np.frombuffer(buf, "<f4", 1 << b, int(table_at[i]))
                yield Unit(ti, channel, band, table, c)
                i += 1


def decode_features(data: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
    """The (1, C, H, W) float32 features of a version 2 or version 1 file, exactly as the page
    (`frontend/src/decoder/wire2.js`) decodes them.

    Raises:
        WireFormatError: as `read_header`.
    """
    if read_header(data).version == 1:
        return wire2_v1.decode_body(memoryview(data).cast("B"))
    bands = [np.empty((t.shape[0], 4, t.band_size), np.float32) for t in TENSORS]
    for u in units(data):
        bands[u.tensor][u.channel, u.band] = u.table[u.codes]
    return {
        t.name: unhaar(b, t.shape[1], t.shape[2])[None] for t, b in zip(TENSORS, bands, strict=True)
    }
