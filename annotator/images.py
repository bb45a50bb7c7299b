"""Upload validation and normalisation of images (PIL only; no torch).

What is stored: the *normalised* image, 8-bit RGB with the EXIF orientation applied, so the
browser, the embedding worker and every polygon agree on one pixel grid without re-deriving it.
An upload that already is a baseline 8-bit RGB JPEG, PNG or WebP with no EXIF rotation is
stored byte for byte (no re-encoding loss); anything else (CMYK, 16-bit, grayscale, palette,
alpha, rotated, TIFF/BMP/GIF) is converted and stored as PNG. Alpha is composited on white, as
the browser shows a transparent image on the white page.

Refused with ImageRejected (a 400 in the API, 413 for `too_large`): not an image, truncated
data, more than IMAGE_MAX_PIXELS pixels (checked from the header, before decoding: a
decompression bomb never allocates), more than IMAGE_MAX_UPLOAD_BYTES bytes, or a polyglot: a
PNG, JPEG, WebP or GIF with something appended after the image's own end (a zip, a jar, HTML),
since the kept-as-is formats would store and later serve those bytes under an image type, or
a format outside UPLOAD_FORMATS (EPS, PSD, ICO and PIL's other rarely used decoders).
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import struct
import unicodedata
import warnings
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

KEEP_AS_IS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# The formats PIL may decode an upload as. PIL knows some forty; the rarely used decoders are
# where its vulnerabilities have been, and EPS hands the file to Ghostscript when that is
# installed. (A multi-picture JPEG opens through JPEG, as PIL's MPO.)
UPLOAD_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")


# What ext4, XFS, APFS and NTFS allow for one path component. A name from a request, an archive
# or an import file longer than this could never have been a real file's name, and used in a
# path it raises OSError (ENAMETOOLONG); it is refused, not silently cut, because a cut name
# would no longer match the same name in a later annotation import.
MAX_NAME_BYTES = 255


class ImageRejected(ValueError):
    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def file_name_of(name: str) -> str:
    """The name a project keeps for an uploaded file or archive entry: the base name (either
    slash), without unprintable characters, in Unicode NFC, so that the same name typed on
    macOS (NFD) and on Linux or Windows (NFC) is one name. ImageRejected when it is over
    MAX_NAME_BYTES in UTF-8."""
    base = posixpath.basename(name.replace("\\", "/"))
    base = unicodedata.normalize("NFC", "".join(c for c in base if c.isprintable())).strip()
    size = len(base.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise ImageRejected(
            f"{base[:40]}...: the file name is {size} bytes in UTF-8, over the {MAX_NAME_BYTES}"
            " a file system allows; rename the file."
        )
    return base or "image"


def name_within(name: str, *, max_bytes: int) -> str:
    """`name` with its stem shortened at a character boundary until its UTF-8 form fits in
    `max_bytes`; the extension is kept. For names this server writes (export entries), which
    a user's file system has to accept when the archive is unpacked."""
    if len(name.encode("utf-8", "surrogatepass")) <= max_bytes:
        return name
    stem, ext = posixpath.splitext(name)
    if len(ext.encode("utf-8", "surrogatepass")) > max_bytes // 2:
        stem, ext = name, ""
    budget = max_bytes - len(ext.encode("utf-8", "surrogatepass"))
    cut = stem.encode("utf-8", "surrogatepass")[:budget].decode("utf-8", "ignore")
    return cut + ext


@dataclass(frozen=True)
class NormalisedImage:
    content: bytes
    extension: str
    width: int
    height: int
    sha256: str  # of the uploaded bytes


def normalise_image(data: bytes, *, name: str = "image") -> NormalisedImage:
    """Validate uploaded bytes and return the image to store (see the module docstring)."""
    if len(data) > settings.IMAGE_MAX_UPLOAD_BYTES:
        raise ImageRejected(
            f"{name}: {len(data)} bytes is over the limit of {settings.IMAGE_MAX_UPLOAD_BYTES}",
            code="too_large",
        )
    digest = hashlib.sha256(data).hexdigest()
    # PIL's own guard follows our limit (it raises at twice it, before our header check).
    PILImage.MAX_IMAGE_PIXELS = settings.IMAGE_MAX_PIXELS
    with warnings.catch_warnings():
        # PIL warns (and above twice its own limit raises) about bombs; our own limit decides.
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        try:
            image = PILImage.open(io.BytesIO(data), formats=UPLOAD_FORMATS)
            width, height = image.size
        except PILImage.DecompressionBombError as exc:
            raise ImageRejected(
                f"{name}: {exc}; that is over the limit of {settings.IMAGE_MAX_PIXELS} pixels "
                "(IMAGE_MAX_PIXELS)"
            ) from None
        except UnidentifiedImageError:
            raise ImageRejected(
                f"{name}: not an image in a supported format (JPEG, PNG, WebP, TIFF, BMP, GIF)"
            ) from None
        except Exception as exc:  # noqa: BLE001 - any decoder failure is the upload's fault
            raise ImageRejected(f"{name}: not a readable image ({exc})") from None
        _check_pixels(name, width, height)
        try:
            # Decoding everything is what detects truncated files.
            image.load()
        except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError) as exc:
            raise ImageRejected(f"{name}: truncated or corrupt image data ({exc})") from None
        fmt = image.format or ""
        _check_nothing_appended(data, fmt, name)
        orientation = image.getexif().get(0x0112, 1)
        if fmt in KEEP_AS_IS and image.mode == "RGB" and orientation in (1, None):
            return NormalisedImage(data, KEEP_AS_IS[fmt], width, height, digest)
        rgb = to_rgb(ImageOps.exif_transpose(image))
    out = io.BytesIO()
    rgb.save(out, format="PNG", optimize=False, compress_level=3)
    return NormalisedImage(out.getvalue(), "png", rgb.width, rgb.height, digest)


# Zip archives start with a local file header (or, empty, with the end record). Uploads are told
# apart by these leading bytes, not by zipfile.is_zipfile, which looks for the central directory
# at the *end*: an image with a zip appended (a GIFAR-style polyglot) would pass for an archive.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def is_zip_archive(data: bytes) -> bool:
    return data.startswith(_ZIP_MAGIC)


# Bytes some writers pad files with after the end marker; harmless, so not a polyglot.
_PADDING = b"\x00\r\n\t "


def _check_nothing_appended(data: bytes, fmt: str, name: str) -> None:
    """Refuse bytes after the image's own end: they are another file (a zip, a jar, HTML)."""
    finder = _IMAGE_END.get(fmt)
    if finder is None:
        return  # other formats are re-encoded, which drops anything appended
    end = finder(data)
    if end is None:
        raise ImageRejected(f"{name}: truncated or corrupt {fmt} structure")
    extra = data[end:].strip(_PADDING)
    if extra:
        raise ImageRejected(
            f"{name}: {len(data) - end} bytes follow the end of the {fmt} image (a polyglot: "
            "another file appended to an image); save the image alone and upload that"
        )


def _png_end(data: bytes) -> int | None:
    offset = 8  # signature
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        kind = data[offset + 4 : offset + 8]
        offset += 12 + length
        if kind == b"IEND":
            return offset if offset <= len(data) else None
    return None


def _jpeg_end(data: bytes) -> int | None:
    """Offset after the EOI marker, walking the marker segments (an EXIF thumbnail's own
    SOI/EOI sits inside an APP1 segment and is skipped with it)."""
    offset, size = 2, len(data)  # SOI
    while offset + 2 <= size:
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker == 0xD9:  # EOI
            return offset + 2
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length
            offset += 2
            continue
        if offset + 4 > size:
            return None
        (length,) = struct.unpack_from(">H", data, offset + 2)
        offset += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            while True:
                offset = data.find(b"\xff", offset)
                if offset < 0 or offset + 1 >= size:
                    return None
                following = data[offset + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    offset += 1 if following == 0xFF else 2
                    continue
                break
    return None


def _webp_end(data: bytes) -> int | None:
    if len(data) < 12:
        return None
    (length,) = struct.unpack_from("<I", data, 4)
    end = 8 + length + (length & 1)
    return end if end <= len(data) + (length & 1) else None


def _gif_end(data: bytes) -> int | None:
    def sub_blocks(offset: int) -> int | None:
        while offset < len(data):
            if data[offset] == 0:
                return offset + 1
            offset += 1 + data[offset]
        return None

    if len(data) < 13:
        return None
    flags = data[10]
    offset: int | None = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    while offset is not None and offset < len(data):
        block = data[offset]
        if block == 0x3B:  # trailer
            return offset + 1
        if block == 0x21:  # extension: label, then sub-blocks
            offset = sub_blocks(offset + 2)
        elif block == 0x2C:  # image descriptor, local colour table, LZW code size, data
            if offset + 10 > len(data):
                return None
            local = data[offset + 9]
            offset += 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0) + 1
            offset = sub_blocks(offset)
        else:
            return None
    return None


_IMAGE_END = {"PNG": _png_end, "JPEG": _jpeg_end, "WEBP": _webp_end, "GIF": _gif_end}


def _check_pixels(name: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageRejected(f"{name}: image has no pixels")
    if width * height > settings.IMAGE_MAX_PIXELS:
        raise ImageRejected(
            f"{name}: {width}x{height} = {width * height} pixels is over the limit of "
            f"{settings.IMAGE_MAX_PIXELS} (IMAGE_MAX_PIXELS)"
        )


def to_rgb(image: PILImage.Image) -> PILImage.Image:
    """Any PIL mode to 8-bit RGB: 16-bit scaled down, alpha composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = PILImage.fromarray(np.clip(array * 255.0 / peak, 0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        lo, hi = float(np.nanmin(array)), float(np.nanmax(array))
        scaled = (array - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(array)
        image = PILImage.fromarray(np.nan_to_num(scaled).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = image.convert("RGBA")
        background = PILImage.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def read_rgb(data: bytes) -> np.ndarray:
    """A stored (already normalised) image as HWC uint8 RGB, for the embedding worker."""
    with PILImage.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as image:
        return np.asarray(to_rgb(image), dtype=np.uint8)
