"""SAM 2.1 in the decoder worker (headless Chromium): the worker reads the SAM 2 feature wire
format, and its masks equal Python onnxruntime's over the same wire-decoded features for every
prompt case of the SAM 2.1 pack."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from export_onnx import wire2
from export_onnx.devserver import DevServer
from export_onnx.sam2_runtime import LOW_RES_CLAMP, Sam2OnnxDecoder
from tests.export_onnx.conftest import iou
from tests.export_onnx.test_browser_decoder import HARNESS, decoder_dist
from tests.export_onnx.test_sam2_export import _cases
from tests.sam2.conftest import mask_input_for

pytestmark = pytest.mark.browser
__all__ = ["decoder_dist"]  # the built frontend, shared with the SAM 1 browser tests


@pytest.fixture(scope="module")
def sam2_page(
    browser: Any,
    decoder_dist: Path,
    sam2_export: Path,
    sam2_features: dict[str, dict[str, np.ndarray]],
    sam2_goldens: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Any, Path]]:
    data = tmp_path_factory.mktemp("sam2_wire")
    manifest = json.loads((sam2_export / "manifest.json").read_text())
    key = bytes.fromhex(manifest["features"]["wire"]["model_key"])
    for img, feats in sam2_features.items():
        size = tuple(int(v) for v in sam2_goldens[f"{img}/orig_hw"])
        blob = wire2.encode_features(feats, model_key=key, original_size=size)  # type: ignore[arg-type]
        (data / f"{img}.bin").write_bytes(blob)
    foreign = wire2.encode_features(sam2_features["chelsea"], model_key=b"\x01" * 16)
    (data / "foreign.bin").write_bytes(foreign)
    (data / "sam1.bin").write_bytes(b"SAME" + bytes(60))
    mounts = {"/dist/": decoder_dist, "/export/": sam2_export, "/harness/": HARNESS,
              "/data/": data}  # fmt: skip
    with DevServer(mounts) as server:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{server.url}/harness/index.html")
        page.wait_for_function("window.harness !== undefined")
        loaded = page.evaluate("harness.load('/export/manifest.json')")
        assert loaded["family"] == "sam2"
        yield page, data
        context.close()


def _b64(text: str, dtype: Any) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def test_worker_masks_equal_python_onnxruntime_for_every_pack_case(
    sam2_page: tuple[Any, Path],
    sam2_export: Path,
    sam2_goldens: Any,
    sam2_manifest: dict[str, Any],
) -> None:
    page, data = sam2_page
    decoder = Sam2OnnxDecoder(sam2_export)
    embedded = set()
    for img, case in _cases(sam2_manifest):
        size = tuple(int(v) for v in sam2_goldens[f"{img}/orig_hw"])
        blob = (data / f"{img}.bin").read_bytes()
        if img not in embedded:
            page.evaluate(f"harness.embed('{img}', '/data/{img}.bin')")
            embedded.add(img)
        mask_input = mask_input_for(case, sam2_goldens, img)
        multimask = case["multimask_output"]
        prompt = {
            "id": img,
            "points": case.get("point_coords") or [],
            "labels": case.get("point_labels") or [],
            "box": case.get("box"),
            "multimask": multimask,
            "maskInput": None if mask_input is None else base64.b64encode(
                mask_input.astype(np.float32).tobytes()).decode(),
        }  # fmt: skip
        got = page.evaluate("([p]) => harness.decode(p)", [prompt])
        assert got["type"] == "decoded", (case["name"], got)
        prepared = decoder.prepare(wire2.decode_features(blob), mask_input)
        masks, scores, low = decoder.predict(
            prepared,
            orig_size=size,  # type: ignore[arg-type]
            point_coords=case.get("point_coords"),
            point_labels=case.get("point_labels"),
            box=case.get("box"),
            multimask_output=multimask,
        )
        chosen = int(np.argmax(scores)) if multimask else 0
        assert got["chosen"] == chosen + (1 if multimask else 0), case["name"]
        worker_scores = np.array(got["scores"], np.float32)
        picks = slice(1, None) if multimask else slice(0, 1)
        assert np.abs(worker_scores[picks] - scores).max() <= 1e-5, case["name"]
        worker_low = _b64(got["lowRes"], np.float32).reshape(256, 256)
        clamped = np.clip(worker_low, -LOW_RES_CLAMP, LOW_RES_CLAMP)
        assert np.abs(clamped - low[chosen]).max() <= 1e-3 * max(1.0, float(np.abs(low).max()))
        full = page.evaluate(
            "([id, low, size]) => harness.fullmask(id, low, size)", [img, got["lowRes"], size]
        )
        worker_mask = _b64(full, np.uint8).reshape(size).astype(bool)
        assert iou(worker_mask, masks[chosen] > 0) >= 0.999, case["name"]


def test_worker_refuses_features_of_another_model_or_format(sam2_page: tuple[Any, Path]) -> None:
    page, _ = sam2_page
    for name, expected in [("foreign", "another model"), ("sam1", "not SAM 2")]:
        message = page.evaluate(
            f"harness.embed('x', '/data/{name}.bin').then(() => 'accepted', (e) => e.message)"
        )
        assert expected in message, name
