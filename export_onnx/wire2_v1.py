"""Version 1 of the SAM 2 feature wire format: the body after `export_onnx.wire2`'s header.

Frozen. Files of this version were stored before version 2 (2026-11-30) and stay on users'
disks until their embeddings are recomputed, so `export_onnx.wire2` and the page
(`frontend/src/decoder/wire2.js`) still read them; `encode_body` stays for the tests that prove
it and for `bench/sam2_precision.py`'s comparison row.

The code: per-channel Lloyd-Max codebooks, 4 bits for ``image_embed`` and ``high_res_feats_1``,
5 bits for ``high_res_feats_0``: 2,383,936 bytes in all, mean mask IoU 0.988 against float32 on
the SAM 2.1 pack (bench/RESULTS.md). A b-bit code is stored as planes: a 4-bit plane of its high
bits (two codes per byte, first in the high nibble) and, for b = 5, a 1-bit plane of its low bit
(eight codes per byte, first in the most significant bit). Value = ``table[c, code]``.

Body, from offset 64, per tensor in `TENSORS` order: table float32 (C, 2^bits), nibble plane
uint8 (C*H*W/2), bit plane uint8 (C*H*W/8, only when bits = 5).
"""

from __future__ import annotations

import numpy as np

from .codebook import SortedValues, codes, lloyd

VERSION = 1
HEADER_SIZE = 64
#: (name, (C, H, W), bits), in wire order.
TENSORS = (
    ("image_embed", (256, 64, 64), 4),
    ("high_res_feats_0", (32, 256, 256), 5),
    ("high_res_feats_1", (64, 128, 128), 4),
)


def _sections(shape: tuple[int, int, int], bits: int) -> list[int]:
    count = shape[0] * shape[1] * shape[2]
    return [4 * shape[0] * (1 << bits), count // 2] + ([count // 8] if bits == 5 else [])


TOTAL_BYTES = HEADER_SIZE + sum(sum(_sections(s, b)) for _, s, b in TENSORS)


def _codebook(x: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel Lloyd-Max codebooks (C, 2^bits) float32 and codes (C, N) for (C, N) values,
    started from the interpolated quantiles as version 1 always was."""
    levels = 1 << bits
    table = np.empty((x.shape[0], levels), np.float64)
    out = np.empty(x.shape, np.uint8)
    for ch, values in enumerate(x.astype(np.float64)):
        s = SortedValues.of(values)
        init = np.quantile(s.ordered, (np.arange(levels) + 0.5) / levels)
        book, _ = lloyd(s, levels, init=init)
        out[ch] = codes(values, book)
        table[ch] = book
    return table.astype(np.float32), out


def encode_body(features: dict[str, np.ndarray]) -> bytes:
    """The version 1 body of validated (C, H, W) float32 features."""
    parts = []
    for name, shape, bits in TENSORS:
        table, c = _codebook(features[name].reshape(shape[0], -1), bits)
        flat = c.reshape(-1)
        hi = (flat >> (bits - 4)).astype(np.uint8)
        parts += [table.astype("<f4").tobytes(), ((hi[0::2] << 4) | hi[1::2]).tobytes()]
        if bits == 5:
            parts.append(np.packbits(flat & 1).tobytes())
    return b"".join(parts)


def tables(buf: memoryview) -> list[np.ndarray]:
    """The (C, 2^bits) float32 tables of a version 1 file of `TOTAL_BYTES` bytes."""
    out, offset = [], HEADER_SIZE
    for _, shape, bits in TENSORS:
        sizes = _sections(shape, bits)
        out.append(np.frombuffer(buf, "<f4", sizes[0] // 4, offset).reshape(shape[0], -1))
        offset += sum(sizes)
    return out


def decode_body(buf: memoryview) -> dict[str, np.ndarray]:
    """(1, C, H, W) float32 features of a checked version 1 file."""
    out, offset = {}, HEADER_SIZE
    for (name, shape, bits), table in zip(TENSORS, tables(buf), strict=True):
        sizes = _sections(shape, bits)
        hi = np.frombuffer(buf, np.uint8, sizes[1], offset + sizes[0])
        c = np.stack([hi >> 4, hi & 15], axis=-1).reshape(-1).astype(np.int64)
        if bits == 5:
            c = c * 2 + np.unpackbits(
                np.frombuffer(buf, np.uint8, sizes[2], offset + sum(sizes[:2]))
            )
        rows = c.reshape(shape[0], -1)
        out[name] = np.take_along_axis(table, rows, axis=1).reshape(1, *shape)
        offset += sum(sizes)
    return out
