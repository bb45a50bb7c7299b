"""`Sam2WireDecoder`: what the server-side predict runs for a SAM 2.1 project, stored wire bytes
in, `OnnxDecoder`'s answers out; the same masks as the fast path on the decoded features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from export_onnx import wire2
from export_onnx.sam2_runtime import Sam2OnnxDecoder, Sam2WireDecoder


def test_wire_bytes_decode_like_the_fast_path_and_a_foreign_key_is_refused(
    sam2_export: Path, sam2_features: dict[str, dict[str, np.ndarray]]
) -> None:
    key = bytes.fromhex(
        json.loads((sam2_export / "manifest.json").read_text())["features"]["wire"]["model_key"]
    )
    features = sam2_features["chelsea"]
    blob = wire2.encode_features(features, model_key=key, original_size=(300, 451))
    decoder = Sam2WireDecoder(sam2_export)
    fast = Sam2OnnxDecoder(sam2_export)
    prepared = decoder.prepare(blob)
    assert prepared.original_size == (300, 451)
    wired = wire2.decode_features(blob)
    prompt = {"point_coords": np.array([[230.0, 150.0]]), "point_labels": np.array([1]),
              "box": np.array([150.0, 40.0, 330.0, 260.0])}  # fmt: skip
    for multimask in (True, False):
        masks, scores, low = decoder.predict(**prompt, multimask_output=multimask, image=prepared)
        logits, want_scores, want_low = fast.predict(
            fast.prepare(wired), orig_size=(300, 451), multimask_output=multimask, **prompt
        )
        assert masks.dtype == bool and np.array_equal(masks, logits > 0)
        np.testing.assert_allclose(scores, want_scores, atol=1e-6)
        np.testing.assert_allclose(low, want_low, atol=1e-5)
    # A mask input re-runs prepare on the stored features.
    refined, _, _ = decoder.predict(**prompt, mask_input=low[:1], image=prepared)
    want, _, _ = fast.predict(fast.prepare(wired, low[:1]), orig_size=(300, 451), **prompt)
    assert np.array_equal(refined, want > 0)

    other = wire2.encode_features(features, model_key=bytes(range(1, 17)), original_size=(300, 451))
    with pytest.raises(wire2.WireFormatError, match="model key"):
        decoder.prepare(other)


def test_a_version_1_file_stored_before_version_2_still_serves_predict(
    sam2_export: Path, sam2_features: dict[str, dict[str, np.ndarray]]
) -> None:
    key = bytes.fromhex(
        json.loads((sam2_export / "manifest.json").read_text())["features"]["wire"]["model_key"]
    )
    old = wire2.encode_features_v1(
        sam2_features["chelsea"], model_key=key, original_size=(300, 451)
    )
    decoder = Sam2WireDecoder(sam2_export)
    fast = Sam2OnnxDecoder(sam2_export)
    prepared = decoder.prepare(old)
    prompt = {"point_coords": np.array([[230.0, 150.0]]), "point_labels": np.array([1])}
    masks, scores, _ = decoder.predict(**prompt, image=prepared)
    logits, want_scores, _ = fast.predict(
        fast.prepare(wire2.decode_features(old)), orig_size=(300, 451), **prompt
    )
    assert np.array_equal(masks, logits > 0)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)
    # A version this reader does not know is refused (the predict view answers 409: recompute).
    newer = bytearray(old)
    newer[4] = 3
    with pytest.raises(wire2.WireFormatError, match="version 3"):
        decoder.prepare(bytes(newer))
