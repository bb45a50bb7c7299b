"""Variant registry and model construction, as Meta's `build_sam.py`.

`MODEL_REGISTRY` holds each variant's architecture; `construct_sam` builds an uninitialised model
from one; `build_sam(checkpoint)` resolves and safely loads a checkpoint (`checkpoints`), takes its
architecture from the registry or reads it off the weights (`config`), checks every key and shape
and returns the model in eval mode.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoints import (
    KNOWN_CHECKPOINTS,
    CheckpointError,
    CheckpointUnavailable,
    cache_dir,
    checkpoint_md5,
    checkpoint_sha256,
    download_checkpoint,
    load_state_dict,
    resolve_checkpoint,
)
from .config import IMAGE_SIZE, PROMPT_EMBED_DIM, VIT_PATCH_SIZE, infer_model_config
from .image_encoder import ImageEncoderViT
from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder
from .sam import Sam
from .tiny_vit import Attention as TinyAttention
from .tiny_vit import TinyViT
from .transformer import TwoWayTransformer

# Checkpoint handling and config inference lived here before they had modules of their own;
# their names stay importable from here.
__all__ = [
    "IMAGE_SIZE",
    "KNOWN_CHECKPOINTS",
    "MODEL_REGISTRY",
    "PROMPT_EMBED_DIM",
    "VIT_PATCH_SIZE",
    "CheckpointError",
    "CheckpointUnavailable",
    "build_sam",
    "cache_dir",
    "checkpoint_md5",
    "checkpoint_sha256",
    "construct_sam",
    "download_checkpoint",
    "infer_model_config",
    "load_state_dict",
    "registry_name",
    "resolve_checkpoint",
]

# Architectures by registry name. "vit" entries configure `ImageEncoderViT`, "tiny_vit"
# entries `TinyViT`.
MODEL_REGISTRY: dict[str, dict[str, Any]] = {
    "vit_b": {
        "encoder": "vit",
        "embed_dim": 768,
        "depth": 12,
        "num_heads": 12,
        "global_attn_indexes": (2, 5, 8, 11),
        "window_size": 14,
    },
    "vit_l": {
        "encoder": "vit",
        "embed_dim": 1024,
        "depth": 24,
        "num_heads": 16,
        "global_attn_indexes": (5, 11, 17, 23),
        "window_size": 14,
    },
    "vit_h": {
        "encoder": "vit",
        "embed_dim": 1280,
        "depth": 32,
        "num_heads": 16,
        "global_attn_indexes": (7, 15, 23, 31),
        "window_size": 14,
    },
    "mobile_sam": {
        "encoder": "tiny_vit",
        "embed_dims": (64, 128, 160, 320),
        "depths": (2, 2, 6, 2),
        "num_heads": (2, 4, 5, 10),
        "window_sizes": (7, 7, 14, 7),
        "num_classes": 1000,
    },
}


def construct_sam(config: Mapping[str, Any], model_type: str = "custom") -> Sam:
    """Build an (uninitialised) `Sam` from an architecture config (a registry entry or the
    output of `infer_model_config`). Honours the ambient default device, so
    `with torch.device("meta"): construct_sam(...)` allocates nothing."""
    encoder: nn.Module
    if config["encoder"] == "vit":
        encoder = ImageEncoderViT(
            img_size=config.get("img_size", IMAGE_SIZE),
            patch_size=config.get("patch_size", VIT_PATCH_SIZE),
            embed_dim=config["embed_dim"],
            depth=config["depth"],
            num_heads=config["num_heads"],
            mlp_ratio=config.get("mlp_ratio", 4.0),
            out_chans=PROMPT_EMBED_DIM,
            window_size=config["window_size"],
            global_attn_indexes=tuple(config["global_attn_indexes"]),
        )
        embedding_side = config.get("img_size", IMAGE_SIZE) // config.get("patch_size", 16)
    elif config["encoder"] == "tiny_vit":
        encoder = TinyViT(
            img_size=IMAGE_SIZE,
            num_classes=config.get("num_classes", 1000),
            embed_dims=tuple(config["embed_dims"]),
            depths=tuple(config["depths"]),
            num_heads=tuple(config["num_heads"]),
            window_sizes=tuple(config["window_sizes"]),
            mlp_ratio=config.get("mlp_ratio", 4.0),
            mbconv_expand_ratio=config.get("mbconv_expand_ratio", 4.0),
        )
        embedding_side = IMAGE_SIZE // 16
    else:
        raise ValueError(f"unknown encoder kind {config['encoder']!r}")
    img_size = int(encoder.img_size)
    model = Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(
            embed_dim=PROMPT_EMBED_DIM,
            image_embedding_size=(embedding_side, embedding_side),
            input_image_size=(img_size, img_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2, embedding_dim=PROMPT_EMBED_DIM, mlp_dim=2048, num_heads=8
            ),
            transformer_dim=PROMPT_EMBED_DIM,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        model_type=model_type,
        config=dict(config),
    )
    return model.eval()


def registry_name(config: Mapping[str, Any]) -> str | None:
    """The registry name whose architecture equals `config`, if any."""
    for name, entry in MODEL_REGISTRY.items():
        if all(_same(config.get(k), v) for k, v in entry.items()) and set(config) == set(entry):
            return name
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return tuple(a) == tuple(b)
    return bool(a == b)


def key_mismatch(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """How `state_dict` fails to fit `model` (missing, unexpected and mis-shaped keys, the first
    five of each), or None when it fits. SAM 2's loader (`annotator.sam2.build`) uses it too."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k}: {tuple(state_dict[k].shape)} != {expected[k]}"
        for k in expected
        if k in state_dict and tuple(state_dict[k].shape) != expected[k]
    ]
    if not (missing or unexpected or mismatched):
        return None
    return (
        f"{len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected keys "
        f"{unexpected[:5]}, {len(mismatched)} shape mismatches {mismatched[:5]}"
    )


def _check_keys(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: Path | str) -> None:
    problem = key_mismatch(model, state_dict)
    if problem is not None:
        raise CheckpointError(
            f"{path}: does not match the {getattr(model, 'model_type', 'model')} architecture: "
            f"{problem}"
        )


def build_sam(
    checkpoint: str | os.PathLike[str],
    model_type: str = "auto",
    device: str | torch.device | None = None,
) -> Sam:
    """Load a SAM model in eval mode.

    Arguments:
      checkpoint: a file path or a known name (`sam_vit_b`, `sam_vit_l`, `sam_vit_h`,
        `mobile_sam`), resolved and if needed downloaded by `resolve_checkpoint`.
      model_type: `vit_b`, `vit_l`, `vit_h`, `mobile_sam`, or `auto` to read the architecture
        off the checkpoint (any checkpoint of the official structure, any size).
      device: where to put the model (default: CUDA when available, else CPU).
    Raises:
      CheckpointUnavailable: the file is missing and cannot be downloaded.
      CheckpointError: the file is not a state dict of the requested architecture.
    """
    path = resolve_checkpoint(checkpoint)
    state_dict = load_state_dict(path)
    if model_type == "auto":
        try:
            config = infer_model_config(state_dict)
        except (KeyError, IndexError, ValueError) as exc:
            raise CheckpointError(
                f"{path}: not a SAM or MobileSAM checkpoint ({exc}); first keys: {list(state_dict)[:5]}"
            ) from exc
        model_type = registry_name(config) or f"custom_{config['encoder']}"
    elif model_type in MODEL_REGISTRY:
        config = dict(MODEL_REGISTRY[model_type])
    else:
        raise ValueError(
            f"unknown model_type {model_type!r}; use auto or one of {sorted(MODEL_REGISTRY)}"
        )
    with torch.device("meta"):
        model = construct_sam(config, model_type)
    _check_keys(model, state_dict, path)
    model = model.to_empty(device="cpu")
    _reset_non_persistent_buffers(model)
    model.load_state_dict(state_dict, strict=False)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device).eval()


def _reset_non_persistent_buffers(model: Sam) -> None:
    """Buffers not in the checkpoint come out of `to_empty` uninitialised; rebuild them."""
    from .sam import PIXEL_MEAN, PIXEL_STD

    model.pixel_mean.copy_(torch.tensor(PIXEL_MEAN).view(-1, 1, 1))
    model.pixel_std.copy_(torch.tensor(PIXEL_STD).view(-1, 1, 1))
    for module in model.modules():
        if isinstance(module, TinyAttention):
            with torch.device("cpu"):
                fresh = TinyAttention(
                    module.norm.normalized_shape[0],
                    module.key_dim,
                    module.num_heads,
                    _window_of(module),
                )
            module.attention_bias_idxs = fresh.attention_bias_idxs
        for name, buf in list(module.named_buffers(recurse=False)):
            if buf.is_meta:
                raise RuntimeError(f"buffer {name} of {type(module).__name__} left uninitialised")


def _window_of(module: TinyAttention) -> tuple[int, int]:
    n = module.attention_bias_idxs.shape[0]
    side = round(n**0.5)
    return (side, side)
