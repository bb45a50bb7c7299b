"""The SAM 2 feature wire format: image_embed + both high-res maps of one image, compact.

Numpy only (the web process never imports torch); the browser reads it in
`frontend/src/decoder/wire2.js` and hands the arrays to ``unpack.onnx`` (`UnpackGraph`).

Why this code: float32 features are 16,777,216 bytes per image (``image_embed`` 256x64x64,
``high_res_feats_0`` 32x256x256, ``high_res_feats_1`` 64x128x128); uniform per-channel uint8 of
all three is 4,194,304; the budget is 2.5 MB. Measured on the SAM 2.1 pack (mean mask IoU
against float32 over every prompt case and candidate; bench/RESULTS.md): uniform min/max codes at
8/8/8 bits give 0.9986 but 4.2 MB; at 4/4/4 bits 0.977, and the stride-4 map costs the most. A
per-channel **codebook** (Lloyd-Max, 2^bits levels fitted to each channel's values) lowers the
error of uniform codes at the same bits (4/4/4: 0.983), so: 4-bit codebooks for ``image_embed``
and ``high_res_feats_1``, 5-bit for ``high_res_feats_0``: 2,383,936 bytes, mean IoU 0.988
(3/5/5: 0.985; 4/5/5, 0.989, does not fit in 2.5 MB).

A b-bit code is stored as planes, so that decoding is exact float arithmetic in any runtime:
a 4-bit plane of its high bits (two codes per byte, first in the high nibble) and, for b = 5,
a 1-bit plane of its low bit (eight codes per byte, first in the most significant bit).
Value = ``table[c, code]`` for channel c.

Layout (little-endian; every section starts at a multiple of 4):

=======  ==========  ===========================================================
offset   type        meaning
=======  ==========  ===========================================================
0        4 bytes     magic ``b"SAM2"``
4        uint16      format version (1)
6        uint16      number of tensors (3)
8        16 bytes    model key: first 16 bytes of the checkpoint's sha256 digest
24       uint32 x 2  original image height, width (0 if unknown)
32       uint32      header size (64)
36       uint32      total size in bytes
40       24 bytes    reserved, zero
64       ...         per tensor in `TENSORS` order: table float32 (C, 2^bits), nibble plane
                     uint8 (C*H*W/2), bit plane uint8 (C*H*W/8, only when bits = 5)
=======  ==========  ===========================================================
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"SAM2"
VERSION = 1
HEADER_SIZE = 64
_HEADER = struct.Struct("<4sHH16s2III24s")
assert _HEADER.size == HEADER_SIZE
LLOYD_ITERATIONS = 12


@dataclass(frozen=True)
class TensorCode:
    name: str
    shape: tuple[int, int, int]
    bits: int

    @property
    def count(self) -> int:
        c, h, w = self.shape
        return c * h * w

    def sections(self) -> list[tuple[str, int]]:
        """(input name, bytes) of this tensor's sections, in wire order."""
        out = [(f"{self.name}_table", 4 * self.shape[0] * (1 << self.bits))]
        out.append((f"{self.name}_hi", self.count // 2))
        if self.bits == 5:
            out.append((f"{self.name}_lo", self.count // 8))
        return out


TENSORS = (
    TensorCode("image_embed", (256, 64, 64), 4),
    TensorCode("high_res_feats_0", (32, 256, 256), 5),
    TensorCode("high_res_feats_1", (64, 128, 128), 4),
)
#: Names and dtypes of ``unpack.onnx``'s inputs (the wire sections, in order).
WIRE_INPUTS: dict[str, str] = {
    name: ("float32" if name.endswith("_table") else "uint8")
    for t in TENSORS
    for name, _ in t.sections()
}
TOTAL_BYTES = HEADER_SIZE + sum(n for t in TENSORS for _, n in t.sections())


class WireFormatError(ValueError):
    """The bytes are not SAM 2 features in this format, or not for this model."""


@dataclass(frozen=True)
class Header:
    model_key: bytes
    original_size: tuple[int, int]


def model_key_from_sha256(sha256_hex: str) -> bytes:
    """The 16-byte model key, from a checkpoint's sha256 hex digest (as `export_onnx.wire`)."""
    return bytes.fromhex(sha256_hex)[:16]


def manifest_entry(model_key: bytes) -> dict[str, object]:
    """What ``manifest.json`` says about the wire format (``features.wire``)."""
    return {
        "format": MAGIC.decode(),
        "version": VERSION,
        "code": "per-channel codebook; bits " + ", ".join(f"{t.name} {t.bits}" for t in TENSORS),
        "header_bytes": HEADER_SIZE,
        "bytes": TOTAL_BYTES,
        "model_key": model_key.hex(),
        "inputs": WIRE_INPUTS,
    }


def _codebook(x: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel Lloyd-Max codebooks (C, 2^bits) and codes (C, N) for (C, N) values.

    Each channel is sorted once; a Lloyd step then only needs the bucket boundaries
    (a search of the 2^bits - 1 midpoints in the sorted values) and prefix sums, so encoding
    costs a sort per channel rather than a pass over every value per iteration.
    """
    levels = 1 << bits
    table = np.empty((x.shape[0], levels), np.float64)
    codes = np.empty(x.shape, np.uint8)
    for ch, values in enumerate(x.astype(np.float64)):
        ordered = np.sort(values)
        prefix = np.concatenate([[0.0], np.cumsum(ordered)])
        book = np.quantile(ordered, (np.arange(levels) + 0.5) / levels)
        for _ in range(LLOYD_ITERATIONS):
            # Bucket k holds the values in (edge[k - 1], edge[k]], as searchsorted assigns them.
            ends = np.searchsorted(ordered, (book[1:] + book[:-1]) / 2, side="right")
            bounds = np.concatenate([[0], ends, [ordered.size]])
            counts = np.diff(bounds)
            sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
            book = np.where(counts > 0, sums / np.maximum(counts, 1), book)
        book = np.sort(book)
        codes[ch] = np.searchsorted((book[1:] + book[:-1]) / 2, values)
        table[ch] = book
    return table.astype(np.float32), codes


def _pack(codes: np.ndarray, bits: int) -> list[bytes]:
    hi = (codes.reshape(-1) >> (bits - 4)).astype(np.uint8)
    planes = [((hi[0::2] << 4) | hi[1::2]).astype(np.uint8).tobytes()]
    if bits == 5:
        planes.append(np.packbits(codes.reshape(-1) & 1).tobytes())
    return planes


def encode_features(
    features: dict[str, np.ndarray],
    *,
    model_key: bytes = b"\x00" * 16,
    original_size: tuple[int, int] = (0, 0),
) -> bytes:
    """Encode ``image_embed``, ``high_res_feats_0``, ``high_res_feats_1`` ((1, C, H, W) float32,
    as ``SAM2ImagePredictor._features`` holds them) into `TOTAL_BYTES` bytes."""
    if len(model_key) != 16:
        raise ValueError("model_key must be 16 bytes")
    parts = [
        _HEADER.pack(MAGIC, VERSION, len(TENSORS), model_key, *original_size, HEADER_SIZE,
                     TOTAL_BYTES, b"")
    ]  # fmt: skip
    for t in TENSORS:
        x = np.asarray(features[t.name], np.float32)
        if x.shape not in (t.shape, (1, *t.shape)):
            raise ValueError(f"{t.name} must be (1, {t.shape}), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{t.name} contains NaN or infinity")
        table, codes = _codebook(x.reshape(t.shape[0], -1), t.bits)
        parts += [table.astype("<f4").tobytes(), *_pack(codes, t.bits)]
    data = b"".join(parts)
    assert len(data) == TOTAL_BYTES
    return data


def read_header(data: bytes | bytearray | memoryview, model_key: bytes | None = None) -> Header:
    """Check the header (and, if given, that it belongs to `model_key`).

    Raises:
        WireFormatError: not this format, a size that does not match, or another model's key.
    """
    if len(data) < HEADER_SIZE:
        raise WireFormatError(f"{len(data)} bytes is too short for SAM 2 features")
    magic, version, count, key, oh, ow, header_size, total, _ = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise WireFormatError(f"not SAM 2 features (magic {magic!r})")
    if version != VERSION or count != len(TENSORS) or header_size != HEADER_SIZE:
        raise WireFormatError(f"unsupported SAM 2 feature version {version}")
    if total != TOTAL_BYTES or len(data) != TOTAL_BYTES:
        raise WireFormatError(f"SAM 2 features have {len(data)} bytes, expected {TOTAL_BYTES}")
    if model_key is not None and key != b"\x00" * 16 and bytes(key) != model_key:
        raise WireFormatError(f"features of model key {bytes(key).hex()}, not {model_key.hex()}")
    return Header(bytes(key), (oh, ow))


def wire_arrays(data: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
    """Zero-copy views of the sections, named and shaped as ``unpack.onnx`` takes them."""
    read_header(data)
    buf = memoryview(data).cast("B")
    out: dict[str, np.ndarray] = {}
    offset = HEADER_SIZE
    for t in TENSORS:
        for name, size in t.sections():
            if name.endswith("_table"):
                arr = np.frombuffer(buf, "<f4", size // 4, offset).reshape(t.shape[0], -1)
            else:
                arr = np.frombuffer(buf, np.uint8, size, offset)
            out[name] = arr
            offset += size
    return out


def decode_features(data: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
    """The (1, C, H, W) float32 features, exactly as ``unpack.onnx`` computes them."""
    arrays = wire_arrays(data)
    out = {}
    for t in TENSORS:
        hi = arrays[f"{t.name}_hi"]
        codes = np.stack([hi >> 4, hi & 15], axis=-1).reshape(-1).astype(np.int64)
        if t.bits == 5:
            codes = codes * 2 + np.unpackbits(arrays[f"{t.name}_lo"])
        table = arrays[f"{t.name}_table"]
        rows = codes.reshape(t.shape[0], -1)
        out[t.name] = np.take_along_axis(table, rows, axis=1).reshape(1, *t.shape)
    return out


def _unpack_graph_class() -> type:
    """`UnpackGraph`, defined lazily so that importing this module needs no torch."""
    import torch
    from torch import nn

    def nibbles(x: torch.Tensor) -> torch.Tensor:
        f = x.to(torch.float32)
        hi = torch.floor(f / 16)
        return torch.stack([hi, f - 16 * hi], dim=-1).reshape(-1)

    def bits(x: torch.Tensor) -> torch.Tensor:
        f = x.to(torch.float32).unsqueeze(-1)
        p = torch.tensor([128.0, 64.0, 32.0, 16.0, 8.0, 4.0, 2.0, 1.0])
        return (torch.floor(f / p) - 2 * torch.floor(f / (2 * p))).reshape(-1)

    class UnpackGraph(nn.Module):
        """``unpack.onnx``: wire sections (`WIRE_INPUTS`) -> the three float32 features."""

        def forward(self, *sections: torch.Tensor) -> tuple[torch.Tensor, ...]:
            it = iter(sections)
            out = []
            for t in TENSORS:
                table = next(it)
                codes = nibbles(next(it))
                if t.bits == 5:
                    codes = codes * 2 + bits(next(it))
                c = t.shape[0]
                # Row c of the flat table starts at c * levels: one Gather for all channels.
                base = (torch.arange(c, dtype=torch.float32) * (1 << t.bits)).reshape(c, 1)
                index = (codes.reshape(c, -1) + base).to(torch.int64)
                out.append(table.reshape(-1)[index].reshape(1, *t.shape))
            return tuple(out)

        def example_inputs(self) -> list[torch.Tensor]:
            arrays = wire_arrays(encode_features(_random_features()))
            return [torch.from_numpy(np.array(arrays[name])) for name in WIRE_INPUTS]

    return UnpackGraph


def _random_features() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {t.name: rng.standard_normal((1, *t.shape)).astype(np.float32) for t in TENSORS}


def __getattr__(name: str) -> type:
    if name == "UnpackGraph":
        return _unpack_graph_class()
    raise AttributeError(name)
