"""Finding and loading the text models: a Hugging Face model id read from the local cache only,
or a folder written by ``save_pretrained``. Nothing is ever downloaded at run time; a missing
model is a ``TextModelUnavailable`` that says what to download and where to put it.

``locate_text_model`` and ``text_model_kind`` read files only (no torch, no transformers), so a
status page can call them; ``load_text_model`` imports torch and transformers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from annotator.sam import SamPredictor
    from annotator.text.prompts import TextSegmenter

# The settings that name the models, and their defaults (public Hugging Face model ids).
SAM3_SETTING = "SAM3_MODEL"
DETECTOR_SETTING = "TEXT_DETECTOR"
DEFAULT_SAM3_MODEL = "facebook/sam3"
DEFAULT_TEXT_DETECTOR = "google/owlv2-base-patch16-ensemble"
GROUNDING_DINO_MODEL = "IDEA-Research/grounding-dino-tiny"
# facebook/sam3 is gated: Meta's licence must be accepted on its page before it downloads.
GATED = {DEFAULT_SAM3_MODEL}

# config.json's model_type -> the path that serves it. facebook/sam3 ships the video model's
# config (sam3_video); Sam3Model loads its detector part from it.
KINDS = {
    "sam3": "sam3",
    "sam3_video": "sam3",
    "owlv2": "owlv2",
    "grounding-dino": "grounding-dino",
}


class TextModelUnavailable(RuntimeError):
    """A text model is not on this machine (or not usable); the message says how to get it."""

    def __init__(self, message: str, *, spec: str, setting: str) -> None:
        super().__init__(message)
        self.spec = spec
        self.setting = setting


def hub_cache() -> Path:
    """The Hugging Face cache the workers read: ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else
    ``~/.cache/huggingface/hub`` (huggingface_hub's own rule)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    return Path(home).expanduser() / "hub"


def missing_model_message(spec: str, setting: str, reason: str) -> str:
    gated = (
        f" {spec} is gated: accept its licence at https://huggingface.co/{spec} and log in "
        "(`hf auth login`) first."
        if spec in GATED
        else ""
    )
    return (
        f"text model {spec!r} ({setting}) is not available: {reason}. Workers never download "
        f"models. On a machine with internet run `hf download {spec}` (pip install "
        f"huggingface_hub; older releases call it `huggingface-cli download {spec}`) and copy "
        f"its cache folder to {hub_cache()} on the worker (or point HF_HUB_CACHE at it), or "
        f"save the model with save_pretrained() into a folder and set {setting} to that "
        f"folder.{gated}"
    )


def locate_text_model(spec: str | os.PathLike[str], *, setting: str = DETECTOR_SETTING) -> Path:
    """The folder holding a model's ``config.json``: ``spec`` itself when it is a folder,
    otherwise the local Hugging Face cache's snapshot of the model id ``spec``.

    Raises ``TextModelUnavailable`` (with what to download and where to put it) when neither.
    """
    name = str(spec)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TextModelUnavailable(
                missing_model_message(name, setting, f"the folder {path} has no config.json"),
                spec=name,
                setting=setting,
            )
        return path
    if path.is_absolute() or name.startswith(".") or name.count("/") != 1:
        raise TextModelUnavailable(
            missing_model_message(name, setting, "no such folder, and not a model id"),
            spec=name,
            setting=setting,
        )
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    except ImportError as exc:
        raise TextModelUnavailable(
            "text prompts need the optional extra: pip install sam-annotator[text]",
            spec=name,
            setting=setting,
        ) from exc
    try:
        folder = Path(snapshot_download(name, local_files_only=True, cache_dir=hub_cache()))
    except (LocalEntryNotFoundError, HFValidationError, FileNotFoundError) as exc:
        raise TextModelUnavailable(
            missing_model_message(name, setting, f"not in the Hugging Face cache {hub_cache()}"),
            spec=name,
            setting=setting,
        ) from exc
    if not (folder / "config.json").is_file():
        raise TextModelUnavailable(
            missing_model_message(name, setting, f"the cached copy {folder} has no config.json"),
            spec=name,
            setting=setting,
        )
    return folder


def text_model_kind(folder: Path) -> str:
    """``sam3``, ``owlv2`` or ``grounding-dino``, from the folder's ``config.json``."""
    try:
        model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{folder / 'config.json'} is not a readable model config") from exc
    if model_type not in KINDS:
        raise ValueError(
            f"{folder} holds a {model_type!r} model; text prompts take SAM 3 (sam3), OWLv2 "
            "(owlv2) or Grounding DINO (grounding-dino)"
        )
    return KINDS[model_type]


def load_text_model(
    spec: str | os.PathLike[str],
    *,
    setting: str = DETECTOR_SETTING,
    device: str | torch.device = "cpu",
    sam_predictor: SamPredictor | None = None,
    **thresholds: Any,
) -> TextSegmenter:
    """A ready ``TextSegmenter`` for ``spec`` (model id in the local HF cache, or a folder).

    Arguments:
      spec: e.g. ``facebook/sam3``, ``google/owlv2-base-patch16-ensemble``,
        ``IDEA-Research/grounding-dino-tiny``, or a folder from ``save_pretrained``.
      setting: the setting that named it, for the error message (``SAM3_MODEL`` or
        ``TEXT_DETECTOR``).
      device: torch device for the model (float32).
      sam_predictor: the project's SAM, which turns a detector's boxes into masks; required for
        OWLv2 and Grounding DINO, unused by SAM 3.
      thresholds: passed to ``Sam3Segmenter`` (score_threshold, mask_threshold) or
        ``DetectorThenSam`` (score_threshold, iou_threshold, max_det).

    Raises ``TextModelUnavailable`` when the model is not on this machine.
    """
    folder = locate_text_model(spec, setting=setting)
    kind = text_model_kind(folder)
    if kind == "sam3":
        from annotator.text.sam3 import Sam3Segmenter

        return Sam3Segmenter.from_folder(folder, device=device, **thresholds)
    if sam_predictor is None:
        raise ValueError(f"{kind} finds boxes only: pass sam_predictor to turn them into masks")
    from annotator.text.detector import DetectorThenSam

    return DetectorThenSam.from_folder(
        folder, kind=kind, sam_predictor=sam_predictor, device=device, **thresholds
    )
