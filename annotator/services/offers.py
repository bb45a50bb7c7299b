"""What the dialogs offer: the detectors an auto-annotation job may name and the SAM
checkpoints a new project may use, each with whether it can run here. Names only: the paths
are the administrator's (settings), never shown to API callers."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from annotator.services.errors import User
from annotator.services.quotas import KNOWN_CHECKPOINT_NAMES, checkpoints_offered


@dataclass(frozen=True)
class Detector:
    name: str
    kind: str  # onnx | ultralytics | boxes
    available: bool
    note: str


def _detector_kind(path: str) -> str:
    # The same choice as autoannotate.detectors.build_detector makes on the worker.
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".json" or Path(path).is_dir():
        return "boxes"
    return "ultralytics"


def ultralytics_installed() -> bool:
    # find_spec looks for the package without importing it (and torch with it).
    return importlib.util.find_spec("ultralytics") is not None


def detector_list() -> list[Detector]:
    """The detectors of AUTO_ANNOTATE_DETECTORS a job may name. An Ultralytics model name is
    listed only where the optional `ultralytics` package is importable: elsewhere a job naming
    it could only fail in the worker."""
    found = []
    for name, path in sorted(settings.AUTO_ANNOTATE_DETECTORS.items()):
        kind = _detector_kind(path)
        if kind == "ultralytics":
            if not ultralytics_installed():
                continue
            found.append(Detector(name, kind, True, "Ultralytics model"))
            continue
        present = Path(path).exists()
        note = "ONNX detector" if kind == "onnx" else "boxes from a file"
        found.append(Detector(name, kind, present, note if present else f"{note}: file missing"))
    return found


def detector_names() -> list[str]:
    return [d.name for d in detector_list()]


@dataclass(frozen=True)
class Checkpoint:
    name: str
    present: bool
    default: bool


def _checkpoint_file(name: str) -> Path:
    # The checkpoint table lives in the model package; its module imports no torch.
    from annotator.sam.checkpoints import KNOWN_CHECKPOINTS

    if name in KNOWN_CHECKPOINTS:
        cache = Path(os.fspath(settings.SAM_CACHE_DIR))
        return cache / KNOWN_CHECKPOINTS[name]["filename"]
    return Path(name)


def checkpoint_list(*, user: User) -> list[Checkpoint]:
    """The checkpoints `user` may give a project (services/quotas.checkpoints_offered), each
    with whether its file is on this server's disk now (a known one is otherwise downloaded on
    first use, where SAM_ALLOW_DOWNLOAD lets it)."""
    rows = []
    for name in checkpoints_offered(user=user):
        shown = name if name in KNOWN_CHECKPOINT_NAMES else name.replace("\\", "/").split("/")[-1]
        rows.append(
            Checkpoint(shown, _checkpoint_file(name).is_file(), name == settings.SAM_CHECKPOINT)
        )
    return rows
