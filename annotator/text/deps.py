"""The check every text path makes before it imports its processors."""

from __future__ import annotations


def require_torchvision(*, optional: bool = False) -> None:
    """transformers' SAM 3 image processor and box-exemplar encoder run on torchvision's
    compiled ops; a torchvision built for another torch fails at import with a cryptic
    "operator torchvision::nms does not exist", so say what is wrong instead. ``optional``:
    the detectors' processors fall back to PIL without torchvision, but not with a broken one.
    """
    import importlib.util

    if optional and importlib.util.find_spec("torchvision") is None:
        return
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError) as exc:
        import torch

        raise ImportError(
            "SAM 3 through transformers needs torchvision built for the installed torch "
            f"{torch.__version__} (the release paired with it, from the same package index); "
            f"importing torchvision failed: {exc}"
        ) from exc
