"""The SAM 2 feature wire format (export_onnx/wire2.py): size, checks, the page's reader
(frontend/src/decoder/wire2.js) equal to the numpy one float for float, version 1 files still
read, and the mask agreement the format costs on the SAM 2.1 pack."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from annotator.sam2 import SAM2ImagePredictor
from export_onnx import wire2, wire2_v1
from export_onnx.sam2_runtime import Sam2OnnxDecoder
from tests.export_onnx.conftest import iou
from tests.export_onnx.test_sam2_export import _cases
from tests.sam2.conftest import PACK_IMAGES, mask_input_for

# Measured on the pack (bench/RESULTS.md): 0.992 mean; the bound is the goal.
MEAN_IOU_MIN = 0.99
BUDGET_BYTES = 2_500_000
KEY = bytes(range(16))
FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node runs the page's reader")


@pytest.fixture(scope="module")
def blobs(sam2_features: dict[str, dict[str, np.ndarray]], sam2_goldens: Any) -> dict[str, bytes]:
    return {
        img: wire2.encode_features(
            feats,
            model_key=KEY,
            original_size=tuple(int(v) for v in sam2_goldens[f"{img}/orig_hw"]),  # type: ignore[arg-type]
        )
        for img, feats in sam2_features.items()
    }


def test_size_is_within_the_budget_and_spends_it(blobs: dict[str, bytes]) -> None:
    for blob in blobs.values():
        assert BUDGET_BYTES - 20_000 < len(blob) <= wire2.MAX_BYTES == BUDGET_BYTES
        assert struct.unpack_from("<I", blob, 36)[0] == len(blob)


def test_round_trip_keeps_header_and_codes_each_band_value_to_its_units_nearest_level(
    blobs: dict[str, bytes], sam2_features: dict[str, dict[str, np.ndarray]], sam2_goldens: Any
) -> None:
    for img, blob in blobs.items():
        header = wire2.read_header(blob, KEY)
        assert header.model_key == KEY and header.version == 2
        assert header.original_size == tuple(int(v) for v in sam2_goldens[f"{img}/orig_hw"])
        decoded = wire2.decode_features(blob)
        bands = {t.name: wire2.haar(sam2_features[img][t.name][0].astype(np.float64))
                 for t in wire2.TENSORS}  # fmt: skip
        seen = 0
        for u in wire2.units(blob):
            t = wire2.TENSORS[u.tensor]
            values = bands[t.name][u.channel, u.band]
            table = u.table.astype(np.float64)
            assert np.all(np.diff(table) >= 0), "levels ascend"
            # Each value is coded to its unit's nearest level, up to float32 rounding of the table.
            dist = np.abs(values - table[u.codes])
            slack = 1e-6 * max(1.0, float(np.abs(table).max()))
            assert (dist <= np.abs(values[:, None] - table[None]).min(1) + slack).all()
            seen += 1
        assert seen == wire2.UNITS == 1408
        for t in wire2.TENSORS:
            x, y = sam2_features[img][t.name], decoded[t.name]
            assert y.shape == x.shape == (1, *t.shape) and y.dtype == np.float32
            rel = np.sqrt(np.mean((y - x) ** 2) / np.mean(x**2))
            assert rel < 0.1, (img, t.name, rel)


def _node_decode(path: Path) -> tuple[dict[str, Any], np.ndarray | None]:
    out = path.with_suffix(".decoded")
    result = subprocess.run(["node", "tests/sam2_wire_dump.mjs", str(path), str(out)],
                            cwd=FRONTEND, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    return info, (np.fromfile(out, np.float32) if "error" not in info else None)


@needs_node
def test_the_pages_reader_decodes_both_versions_to_the_same_floats(
    blobs: dict[str, bytes], sam2_features: dict[str, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    v1 = wire2.encode_features_v1(sam2_features["rocket"], model_key=KEY, original_size=(5, 7))
    for name, blob, version in [("chelsea", blobs["chelsea"], 2), ("v1", v1, 1)]:
        path = tmp_path / f"{name}.bin"
        path.write_bytes(blob)
        info, floats = _node_decode(path)
        assert info["version"] == version and info["modelKey"] == KEY.hex(), info
        want = wire2.decode_features(blob)
        assert floats is not None
        assert np.array_equal(floats, np.concatenate([want[t.name].ravel() for t in wire2.TENSORS]))


def _patched(blob: bytes, offset: int, fmt: str, value: Any) -> bytes:
    data = bytearray(blob)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def _bad_files(blob: bytes, v1: bytes) -> dict[str, bytes]:
    bits = np.frombuffer(blob, np.uint8, wire2.UNITS, wire2.HEADER_SIZE)
    first_table = wire2.HEADER_SIZE + wire2.UNITS
    # The most a (legal) bits table can say: every unit at 6 bits, far over the budget.
    big = wire2.size_of(np.full(wire2.UNITS, wire2.MAX_BITS))
    oversized = bytearray(big)
    oversized[:first_table] = blob[:first_table]
    oversized[wire2.HEADER_SIZE : first_table] = bytes([wire2.MAX_BITS]) * wire2.UNITS
    struct.pack_into("<I", oversized, 36, big)
    more = bits.copy()
    more[0] += 1  # the bits say one more plane than the file holds
    return {
        "magic": b"SAME" + blob[4:],
        "version 3": _patched(blob, 4, "<H", 3),
        "version 0": _patched(blob, 4, "<H", 0),
        "count": _patched(blob, 6, "<H", 4),
        "header size": _patched(blob, 32, "<I", 128),
        "total field": _patched(blob, 36, "<I", len(blob) + 4),
        "truncated": blob[:-1],
        "extended": blob + b"\0",
        "empty": b"",
        "header only": blob[:64],
        "reserved": _patched(blob, 40, "<B", 1),
        "bits 0": _patched(blob, wire2.HEADER_SIZE + 5, "<B", 0),
        "bits 7": _patched(blob, wire2.HEADER_SIZE + 5, "<B", 7),
        "bits and size disagree": blob[:64] + more.tobytes() + blob[first_table:],
        "oversized": bytes(oversized),
        "NaN level": _patched(blob, first_table + 4, "<f", float("nan")),
        "infinite level": _patched(blob, first_table, "<f", float("inf")),
        "v1 truncated": _patched(v1[:-4], 36, "<I", len(v1) - 4),
        "v1 NaN level": _patched(v1, wire2.HEADER_SIZE, "<f", float("nan")),
    }


def test_corrupt_truncated_oversized_and_foreign_bytes_are_refused(
    blobs: dict[str, bytes], sam2_features: dict[str, dict[str, np.ndarray]]
) -> None:
    blob = blobs["chelsea"]
    v1 = wire2.encode_features_v1(sam2_features["chelsea"])
    assert len(v1) == wire2_v1.TOTAL_BYTES == 2_383_936
    for what, data in _bad_files(blob, v1).items():
        with pytest.raises(wire2.WireFormatError):
            wire2.read_header(data)
        with pytest.raises(wire2.WireFormatError):
            wire2.decode_features(data)
        assert what
    with pytest.raises(wire2.WireFormatError, match="at most 2500000"):
        wire2.read_header(_bad_files(blob, v1)["oversized"])
    with pytest.raises(wire2.WireFormatError, match="model key"):
        wire2.read_header(blob, b"\x01" * 16)
    with pytest.raises(wire2.WireFormatError, match="model key"):
        wire2.read_header(
            wire2.encode_features_v1(sam2_features["chelsea"], model_key=KEY), b"\x01" * 16
        )
    unknown = wire2.encode_features_v1(sam2_features["chelsea"])  # all-zero key: any model
    assert wire2.read_header(unknown, KEY).version == 1


@needs_node
def test_the_pages_reader_refuses_what_the_numpy_reader_refuses(
    blobs: dict[str, bytes], sam2_features: dict[str, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    v1 = wire2.encode_features_v1(sam2_features["chelsea"])
    for what, data in _bad_files(blobs["chelsea"], v1).items():
        path = tmp_path / "bad.bin"
        path.write_bytes(data)
        info, _ = _node_decode(path)
        assert "SAM 2" in info.get("error", ""), (what, info)


def test_encoder_refuses_bad_features(sam2_features: dict[str, dict[str, np.ndarray]]) -> None:
    feats = dict(sam2_features["chelsea"])
    nan = feats["image_embed"].copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        wire2.encode_features({**feats, "image_embed": nan})
    with pytest.raises(ValueError, match="must be"):
        wire2.encode_features({**feats, "high_res_feats_0": feats["high_res_feats_1"]})
    with pytest.raises(ValueError, match="16 bytes"):
        wire2.encode_features(feats, model_key=b"short")


def test_mask_agreement_through_the_wire_on_every_pack_case(
    sam2_export: Path,
    blobs: dict[str, bytes],
    sam2_features: dict[str, dict[str, np.ndarray]],
    sam2_goldens: Any,
    sam2_manifest: dict[str, Any],
    sam2_predictors: dict[str, SAM2ImagePredictor],
) -> None:
    decoder = Sam2OnnxDecoder(sam2_export)
    ious = []
    for img, case in _cases(sam2_manifest):
        size = tuple(int(v) for v in sam2_goldens[f"{img}/orig_hw"])
        mask_input = mask_input_for(case, sam2_goldens, img)
        prompt = {
            "orig_size": size,
            "point_coords": case.get("point_coords"),
            "point_labels": case.get("point_labels"),
            "box": case.get("box"),
            "multimask_output": case["multimask_output"],
        }
        ref, _, _ = decoder.predict(decoder.prepare(sam2_features[img], mask_input), **prompt)
        wired = wire2.decode_features(blobs[img])
        got, _, _ = decoder.predict(decoder.prepare(wired, mask_input), **prompt)
        ious += [iou(a > 0, b > 0) for a, b in zip(got, ref, strict=True)]
    assert len(ious) == sum(3 if c["multimask_output"] else 1 for _, c in _cases(sam2_manifest))
    assert len(PACK_IMAGES) == 2
    sizes = [len(b) for b in blobs.values()]
    print(
        f"SAM 2 wire v2: {max(sizes)} bytes, mean mask IoU {np.mean(ious):.4f}, min {np.min(ious):.4f}"
    )
    assert np.mean(ious) >= MEAN_IOU_MIN
