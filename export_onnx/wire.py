"""The embedding wire format: how the server stores and sends one image embedding.

Numpy only, so the Django web process (which never imports torch) can read, check and serve it.

Why this format: SAM's image embedding is (1, 256, 64, 64) float32 = 4 MiB per image. Each of the
256 channels has its own range, so an affine uint8 code per channel (``x ~= offset[c] +
scale[c] * q``) keeps the error at half a step of that channel's own range, which is far below
what moves a mask boundary (tests/export_onnx measures mask IoU >= 0.99 through it). The page
hands the three views of the buffer straight to the per-image ONNX graph, which dequantizes it
(no conversion in JavaScript).

Byte layout (little-endian), 1,050,688 bytes for the standard (256, 64, 64) embedding:

=======  ====================  ===========================================================
offset   type                  meaning
=======  ====================  ===========================================================
0        4 bytes               magic ``b"SAME"``
4        uint16                format version (1)
6        uint16                code: 1 = uint8 affine per channel
8        uint32 x 3            C, H, W of the embedding (256, 64, 64)
20       uint32                header size in bytes (64); scales start here
24       16 bytes              model key: first 16 bytes of the checkpoint's sha256 digest
40       uint32 x 2            original image height, width in pixels (0 if unknown)
48       16 bytes              reserved, zero
64       float32 x C           scale per channel
64+4C    float32 x C           offset per channel
64+8C    uint8 x C*H*W         codes, C-order (channel, row, column)
=======  ====================  ===========================================================

All offsets are multiples of 4, so ``new Float32Array(buffer, 64, C)`` works in the browser.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"SAME"
VERSION = 1
CODE_UINT8_AFFINE = 1
HEADER_SIZE = 64
_HEADER = struct.Struct("<4sHH3II16s2I16s")
assert _HEADER.size == HEADER_SIZE

#: The names and dtypes the per-image graph (``prepare.onnx``) takes the wire arrays under.
WIRE_INPUTS: dict[str, str] = {
    "embedding_q": "uint8",
    "embedding_scale": "float32",
    "embedding_offset": "float32",
}


class WireFormatError(ValueError):
    """The bytes are not an embedding in this format, or not one for this model."""


@dataclass(frozen=True)
class WireHeader:
    """Header fields of one encoded embedding.

    Attributes:
        shape: (C, H, W) of the embedding without the batch axis, e.g. (256, 64, 64).
        model_key: 16 bytes, the first half of the checkpoint's sha256 digest (zeros if unknown).
        original_size: (H, W) of the original image in pixels, (0, 0) if unknown.
    """

    shape: tuple[int, int, int]
    model_key: bytes = b"\x00" * 16
    original_size: tuple[int, int] = (0, 0)
    version: int = VERSION
    code: int = CODE_UINT8_AFFINE

    @property
    def nbytes(self) -> int:
        """Total size of the encoded embedding in bytes, header included."""
        c, h, w = self.shape
        return HEADER_SIZE + 8 * c + c * h * w


def model_key_from_sha256(sha256_hex: str) -> bytes:
    """The 16-byte model key stored in each embedding, from a checkpoint's sha256 hex digest."""
    return bytes.fromhex(sha256_hex)[:16]


def encode_embedding(
    embedding: np.ndarray,
    *,
    model_key: bytes = b"\x00" * 16,
    original_size: tuple[int, int] = (0, 0),
) -> bytes:
    """Encode an image embedding into the wire format.

    Arguments:
        embedding: (1, C, H, W) or (C, H, W) float32, e.g. ``SamPredictor.features``.
        model_key: 16 bytes tying the embedding to its checkpoint (see `model_key_from_sha256`).
        original_size: (H, W) of the original image in pixels.

    Returns:
        The encoded bytes (1,050,688 for a (1, 256, 64, 64) embedding).
    """
    x = np.asarray(embedding, dtype=np.float32)
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"expected a batch of one embedding, got shape {x.shape}")
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"expected (1, C, H, W) or (C, H, W), got shape {embedding.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embedding contains NaN or infinity")
    if len(model_key) != 16:
        raise ValueError("model_key must be 16 bytes")
    scale, offset = _affine_params(x)
    q = np.rint((x - offset[:, None, None]) / scale[:, None, None])
    codes = np.clip(q, 0, 255).astype(np.uint8)
    c, h, w = x.shape
    header = _HEADER.pack(
        MAGIC, VERSION, CODE_UINT8_AFFINE, c, h, w, HEADER_SIZE, model_key, *original_size, b""
    )
    return b"".join(
        [header, scale.astype("<f4").tobytes(), offset.astype("<f4").tobytes(), codes.tobytes()]
    )


def _affine_params(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel scale and offset mapping [min, max] of each channel onto codes 0..255."""
    flat = x.reshape(x.shape[0], -1)
    lo = flat.min(axis=1)
    hi = flat.max(axis=1)
    # A constant channel gets scale 1 so that decoding never divides by or multiplies with zero.
    scale = np.where(hi > lo, (hi - lo) / 255.0, 1.0).astype(np.float32)
    return scale, lo.astype(np.float32)


def read_header(data: bytes | bytearray | memoryview) -> WireHeader:
    """Parse and check the header of an encoded embedding.

    Raises:
        WireFormatError: wrong magic, unknown version or code, or a size that does not match.
    """
    if len(data) < HEADER_SIZE:
        raise WireFormatError(f"{len(data)} bytes is too short for an embedding header")
    magic, version, code, c, h, w, header_size, key, oh, ow, _ = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise WireFormatError(f"not a SAM embedding (magic {magic!r})")
    if version != VERSION or code != CODE_UINT8_AFFINE or header_size != HEADER_SIZE:
        raise WireFormatError(f"unsupported embedding version {version} code {code}")
    header = WireHeader((c, h, w), bytes(key), (oh, ow), version, code)
    if len(data) != header.nbytes:
        raise WireFormatError(f"embedding has {len(data)} bytes, header says {header.nbytes}")
    return header


def wire_arrays(data: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
    """Zero-copy views of an encoded embedding, named as the per-image graph takes them.

    Returns:
        ``embedding_q`` (1, C, H, W) uint8, ``embedding_scale`` (C,) float32 and
        ``embedding_offset`` (C,) float32.
    """
    header = read_header(data)
    c, h, w = header.shape
    buf = memoryview(data).cast("B")
    scale = np.frombuffer(buf, dtype="<f4", count=c, offset=HEADER_SIZE)
    offset = np.frombuffer(buf, dtype="<f4", count=c, offset=HEADER_SIZE + 4 * c)
    codes = np.frombuffer(buf, dtype=np.uint8, count=c * h * w, offset=HEADER_SIZE + 8 * c)
    return {
        "embedding_q": codes.reshape(1, c, h, w),
        "embedding_scale": scale,
        "embedding_offset": offset,
    }


def decode_embedding(data: bytes | bytearray | memoryview) -> tuple[np.ndarray, WireHeader]:
    """Decode an encoded embedding back to float32.

    Returns:
        The (1, C, H, W) float32 embedding (exactly what ``prepare.onnx`` computes from the same
        bytes) and the parsed header.
    """
    arrays = wire_arrays(data)
    q = arrays["embedding_q"].astype(np.float32)
    scale = arrays["embedding_scale"][None, :, None, None]
    offset = arrays["embedding_offset"][None, :, None, None]
    return (q * scale + offset).astype(np.float32), read_header(data)
