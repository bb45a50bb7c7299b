"""Bad input and missing models get a clear error; models load from a folder or the HF cache."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from annotator.text import (
    MAX_PHRASES,
    TextModelUnavailable,
    TextPromptError,
    check_image,
    check_phrases,
    load_text_model,
    locate_text_model,
    text_model_kind,
)


@pytest.mark.parametrize(
    ("phrases", "message"),
    [
        ([], "at least one phrase"),
        (["cup", "   "], "phrase 1 is empty"),
        ([""], "phrase 0 is empty"),
        (["cup"] * 1000, f"1000 phrases given; at most {MAX_PHRASES}"),
        (["a" * 201], "phrase 0 is 201 characters"),
        ("cup", "a list of strings"),
        (["cup", 3], "phrase 1 must be a string"),
    ],
)
def test_bad_phrases_are_refused_with_the_reason(phrases: object, message: str) -> None:
    with pytest.raises(TextPromptError, match=message):
        check_phrases(phrases)


def test_phrases_are_trimmed() -> None:
    assert check_phrases(["  red   mug ", "cup"]) == ["red mug", "cup"]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((8, 8), np.uint8), r"\(H, W, 3\) RGB, got shape \(8, 8\)"),
        (np.zeros((8, 8, 4), np.uint8), r"got shape \(8, 8, 4\)"),
        (np.zeros((8, 8, 3), np.float32), "must be uint8, got float32"),
        (np.zeros((0, 8, 3), np.uint8), "image is empty"),
        ([[1, 2, 3]], "numpy array, got list"),
    ],
)
def test_non_rgb_images_are_refused(image: object, message: str) -> None:
    with pytest.raises(TextPromptError, match=message):
        check_image(image)


def test_bad_input_reaches_the_segmenters_as_the_same_errors(
    sam3_folder: Path, image: np.ndarray
) -> None:
    seg = load_text_model(sam3_folder)
    with pytest.raises(TextPromptError, match="phrase 0 is empty"):
        seg.segment(image, [" "])
    with pytest.raises(TextPromptError, match="1000 phrases"):
        seg.segment(image, ["cup"] * 1000)
    with pytest.raises(TextPromptError, match="got shape"):
        seg.segment(image[..., 0], ["cup"])
    assert issubclass(TextPromptError, ValueError), "callers answer it as bad input (4xx)"


def test_a_missing_model_says_what_to_download_and_which_setting_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(TextModelUnavailable) as info:
        locate_text_model("google/owlv2-base-patch16-ensemble", setting="TEXT_DETECTOR")
    message = str(info.value)
    assert "hf download google/owlv2-base-patch16-ensemble" in message
    assert str(tmp_path / "hub") in message and "TEXT_DETECTOR" in message
    assert info.value.setting == "TEXT_DETECTOR"
    with pytest.raises(
        TextModelUnavailable, match=r"gated: accept its licence.*SAM3_MODEL|SAM3_MODEL.*gated"
    ):
        load_text_model("facebook/sam3", setting="SAM3_MODEL")
    with pytest.raises(TextModelUnavailable, match="no such folder, and not a model id"):
        locate_text_model(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextModelUnavailable, match="has no config.json"):
        locate_text_model(tmp_path / "empty")
    assert isinstance(info.value, RuntimeError)


def test_a_model_id_is_read_from_the_local_hugging_face_cache(
    owlv2_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<sha>}."""
    repo = tmp_path / "hub" / "models--google--owlv2-base-patch16-ensemble"
    sha = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(owlv2_folder, repo / "snapshots" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    folder = locate_text_model("google/owlv2-base-patch16-ensemble")
    assert folder == repo / "snapshots" / sha
    assert text_model_kind(folder) == "owlv2"


def test_a_folder_of_another_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ValueError, match="holds a 'bert' model; text prompts take SAM 3"):
        text_model_kind(tmp_path)


def test_importing_the_package_imports_neither_torch_nor_transformers() -> None:
    code = (
        "import sys, annotator.text, annotator.text.prompts, annotator.text.models;"
        " assert 'torch' not in sys.modules, 'torch imported';"
        " assert 'transformers' not in sys.modules, 'transformers imported';"
        " annotator.text.locate_text_model.__name__"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_sam3_without_a_usable_torchvision_says_so(
    sam3_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As when torchvision is missing; a build for another torch fails the same import.
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(ImportError, match="needs torchvision built for the installed torch"):
        load_text_model(sam3_folder)
