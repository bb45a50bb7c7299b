"""The wire format and the numpy parts of the runtime (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from export_onnx import wire
from export_onnx.runtime import prompt_tensors, resized_size, upsample_logits


def test_wire_embedding_fits_in_1_1_mb_and_roundtrips_within_half_a_step() -> None:
    rng = np.random.default_rng(0)
    emb = (rng.normal(size=(1, 256, 64, 64)) * rng.uniform(0.1, 5, size=(1, 256, 1, 1))).astype(
        np.float32
    )
    data = wire.encode_embedding(emb, model_key=b"k" * 16, original_size=(300, 451))
    assert len(data) == 1_050_688 <= 1_100_000
    decoded, header = wire.decode_embedding(data)
    assert header.original_size == (300, 451) and header.model_key == b"k" * 16
    step = (emb.max(axis=(2, 3)) - emb.min(axis=(2, 3)))[..., None, None] / 255
    assert (np.abs(decoded - emb) <= step / 2 + 1e-6).all()


def test_wire_rejects_foreign_or_truncated_bytes() -> None:
    data = wire.encode_embedding(np.zeros((1, 256, 64, 64), np.float32))
    with pytest.raises(wire.WireFormatError, match="magic"):
        wire.read_header(b"XXXX" + data[4:])
    with pytest.raises(wire.WireFormatError, match="bytes"):
        wire.read_header(data[:-1])
    with pytest.raises(ValueError, match="NaN"):
        wire.encode_embedding(np.full((1, 256, 64, 64), np.nan, np.float32))


@pytest.mark.parametrize("size", [(300, 451), (427, 640), (1024, 1024), (1500, 700), (7, 13)])
def test_upsample_matches_postprocess_masks(size: tuple[int, int]) -> None:
    low = torch.randn(3, 256, 256)
    new = resized_size(*size)
    ref = F.interpolate(low[None], (1024, 1024), mode="bilinear", align_corners=False)
    ref = ref[..., : new[0], : new[1]]
    ref = F.interpolate(ref, size, mode="bilinear", align_corners=False)[0].numpy()
    got = upsample_logits(low.numpy(), size)
    assert got.shape == (3, *size)
    assert np.abs(got - ref).max() < 1e-4


def test_prompt_tensors_pad_without_box_and_append_box_corners() -> None:
    t = prompt_tensors(np.array([[100.0, 50.0]]), np.array([1]), None, (300, 451))
    assert t["point_labels"].tolist() == [[1.0, -1.0]]
    np.testing.assert_allclose(
        t["point_coords"][0, 0], [100 * 1024 / 451, 50 * 681 / 300], rtol=1e-6
    )
    t = prompt_tensors(None, None, np.array([40.0, 30.0, 10.0, 20.0]), (300, 451))
    assert t["point_labels"].tolist() == [[2.0, 3.0]]
    assert t["point_coords"].shape == (1, 2, 2)
    assert (t["point_coords"][0, 0] < t["point_coords"][0, 1]).all()


def test_runtime_and_wire_import_without_torch() -> None:
    """The Django web process serves predictions with OnnxDecoder and never imports torch."""
    import subprocess
    import sys

    code = "import sys, export_onnx.runtime, export_onnx.wire; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
