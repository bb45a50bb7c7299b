"""SAM 2 architectures by name, construction, size detection and checkpoint loading.

`build_sam2(path)` reads a Meta `{"model": state_dict}` checkpoint with
`torch.load(weights_only=True)`, recognises its size (tiny, small, base_plus, large, or the
parity pack's mini) and its version (2.0 or 2.1) from the keys and shapes, and loads it strictly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from annotator.sam.build import key_mismatch

from .checkpoints import CheckpointError, load_state_dict, resolve_sam2_checkpoint
from .hiera import Hiera
from .mask_decoder import MaskDecoder, TwoWayTransformer
from .memory import MemoryConfig
from .model import EMBEDDING_SIZE, HIDDEN_DIM, IMAGE_SIZE, SAM2Image
from .neck import FpnNeck, ImageEncoder
from .prompt_encoder import PromptEncoder

TRUNK = "image_encoder.trunk."


@dataclass(frozen=True)
class Sam2Config:
    """One SAM 2 architecture. Weights do not tell `num_heads`, `window_spec` beyond its first
    entry, or `global_att_blocks`; they come from Meta's configs (`sam2.1_hiera_*.yaml`).

    Arguments:
      embed_dim: Hiera channels of stage 1 (doubling per stage).
      num_heads: heads of stage 1 (doubling per stage).
      stages: blocks per stage.
      global_att_blocks: blocks with global attention.
      window_spec: attention window side per stage.
      bkg_size: (H, W) of the background position embedding `pos_embed`.
      memory: sizes of the video modules (held, not run).
    """

    embed_dim: int
    num_heads: int
    stages: tuple[int, int, int, int]
    global_att_blocks: tuple[int, ...]
    window_spec: tuple[int, int, int, int] = (8, 4, 14, 7)
    bkg_size: tuple[int, int] = (7, 7)
    memory: MemoryConfig = field(default_factory=MemoryConfig)

    @property
    def channel_list(self) -> list[int]:
        """Trunk channels, deepest first (the neck's `backbone_channel_list`)."""
        return [self.embed_dim * 2**i for i in range(len(self.stages))][::-1]

    @property
    def trunk_signature(self) -> tuple[Any, ...]:
        """What a state dict reveals of the trunk: used to recognise the size."""
        return (self.embed_dim, self.stages, self.bkg_size, self.window_spec[0])


# Meta's configs (sam2.1_hiera_{t,s,b+,l}.yaml; the SAM 2.0 ones have the same trunks), and the
# parity pack's mini model (manifest.json: embed 16, stages 1,2,3,1, one memory layer).
MODEL_REGISTRY: dict[str, Sam2Config] = {
    "tiny": Sam2Config(96, 1, (1, 2, 7, 2), (5, 7, 9)),
    "small": Sam2Config(96, 1, (1, 2, 11, 2), (7, 10, 13)),
    "base_plus": Sam2Config(112, 2, (2, 3, 16, 3), (12, 16, 20), bkg_size=(14, 14)),
    "large": Sam2Config(144, 2, (2, 6, 36, 4), (23, 33, 43), window_spec=(8, 4, 16, 8)),
    "mini": Sam2Config(
        16,
        1,
        (1, 2, 3, 1),
        (5,),
        memory=MemoryConfig(attention_layers=1, attention_ff_dim=64, fuser_layers=1),
    ),
}


def construct_sam2(config: Sam2Config) -> SAM2Image:
    """Build a SAM 2 model with freshly initialised weights (use `build_sam2` to load some).

    Arguments:
      config: the architecture, e.g. `MODEL_REGISTRY["tiny"]`.
    Returns:
      a `SAM2Image` in eval mode whose state dict has Meta's keys and shapes. Call it under
      `torch.device("meta")` to get the structure without allocating weights.
    """
    trunk = Hiera(
        embed_dim=config.embed_dim,
        num_heads=config.num_heads,
        stages=config.stages,
        global_att_blocks=config.global_att_blocks,
        window_spec=config.window_spec,
        window_pos_embed_bkg_spatial_size=config.bkg_size,
    )
    neck = FpnNeck(d_model=HIDDEN_DIM, backbone_channel_list=config.channel_list)
    prompt_encoder = PromptEncoder(
        embed_dim=HIDDEN_DIM,
        image_embedding_size=(EMBEDDING_SIZE, EMBEDDING_SIZE),
        input_image_size=(IMAGE_SIZE, IMAGE_SIZE),
        mask_in_chans=16,
    )
    decoder = MaskDecoder(
        transformer_dim=HIDDEN_DIM,
        transformer=TwoWayTransformer(depth=2, embedding_dim=HIDDEN_DIM, num_heads=8, mlp_dim=2048),
    )
    model = SAM2Image(ImageEncoder(trunk, neck, scalp=1), prompt_encoder, decoder, config.memory)
    return model.eval()


# --------------------------------------------------------------------------- size detection


def _indices(keys: Sequence[str], pattern: str) -> list[int]:
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return sorted(found)


def _is_sam1(keys: Sequence[str]) -> bool:
    return any(k.startswith("image_encoder.") for k in keys) and not any(
        k.startswith(TRUNK) for k in keys
    )


def infer_sam2_config(shapes: Mapping[str, Sequence[int]]) -> tuple[str, Sam2Config]:
    """Recognise a SAM 2 architecture from a state dict's keys and shapes.

    Arguments:
      shapes: key -> shape (a tensor's `.shape` or a list of ints, as in the pack's key lists).
    Returns:
      (registry name, config); the config's `memory` follows the state dict (2.0 or 2.1, the
      number of memory layers).
    Raises:
      ValueError (`CheckpointError`) for a SAM 1 checkpoint, missing trunk keys, or a trunk
      that matches no registered size.
    """
    keys = list(shapes)
    if _is_sam1(keys):
        raise CheckpointError(
            "this is a SAM 1 checkpoint (image_encoder without a Hiera trunk); load it with "
            "annotator.sam.build_sam, not the SAM 2 builder"
        )
    for required in ("pos_embed", "pos_embed_window", "patch_embed.proj.weight"):
        if TRUNK + required not in shapes:
            raise CheckpointError(f"not a SAM 2 checkpoint: no {TRUNK + required}")
    embed_dim = int(shapes[TRUNK + "pos_embed"][1])
    bkg = (int(shapes[TRUNK + "pos_embed"][2]), int(shapes[TRUNK + "pos_embed"][3]))
    window0 = int(shapes[TRUNK + "pos_embed_window"][2])
    blocks = _indices(keys, r"image_encoder\.trunk\.blocks\.(\d+)\.")
    if not blocks or blocks != list(range(len(blocks))):
        raise CheckpointError(f"not a SAM 2 checkpoint: trunk block indices {blocks[:8]}")
    # The first block of each later stage changes width and so has a shortcut `proj`.
    starts = [0] + _indices(keys, r"image_encoder\.trunk\.blocks\.(\d+)\.proj\.weight")
    bounds = [*starts, len(blocks)]
    stages = tuple(b - a for a, b in zip(bounds, bounds[1:], strict=False))
    signature = (embed_dim, stages, bkg, window0)
    name = next((n for n, c in MODEL_REGISTRY.items() if c.trunk_signature == signature), None)
    if name is None:
        known = ", ".join(f"{n} {c.trunk_signature}" for n, c in MODEL_REGISTRY.items())
        raise CheckpointError(
            f"unknown SAM 2 trunk (embed_dim, stages, pos_embed size, first window) = "
            f"{signature}; known: {known}"
        )

    sam21_keys = ("no_obj_embed_spatial" in shapes, "obj_ptr_tpos_proj.weight" in shapes)
    if sam21_keys[0] != sam21_keys[1]:
        raise CheckpointError(
            "inconsistent SAM 2 version: expected both or neither of no_obj_embed_spatial "
            "and obj_ptr_tpos_proj (SAM 2.1 adds both)"
        )
    layers = _indices(keys, r"memory_attention\.layers\.(\d+)\.")
    fuser = _indices(keys, r"memory_encoder\.fuser\.layers\.(\d+)\.")
    ff_key = "memory_attention.layers.0.linear1.weight"
    memory = MemoryConfig(
        attention_layers=len(layers),
        attention_ff_dim=int(shapes[ff_key][0]) if ff_key in shapes else 2048,
        fuser_layers=len(fuser),
        sam21=sam21_keys[0],
    )
    return name, replace(MODEL_REGISTRY[name], memory=memory)


# --------------------------------------------------------------------------- loading


def sam2_from_state_dict(
    state_dict: Mapping[str, torch.Tensor], source: str = "state dict"
) -> SAM2Image:
    """Build the architecture a state dict describes and load it strictly.

    Arguments:
      state_dict: Meta's SAM 2 / 2.1 keys (`image_encoder.trunk.*`, `sam_mask_decoder.*`, ...).
      source: named in error messages (a file path).
    Returns:
      the `SAM2Image` (CPU, float32, eval mode), with `model_name` and `sam_version` set.
    """
    name, config = infer_sam2_config({k: tuple(v.shape) for k, v in state_dict.items()})
    with torch.device("meta"):
        model = construct_sam2(config)
    problem = key_mismatch(model, state_dict)
    if problem is not None:
        raise CheckpointError(f"{source}: does not match SAM 2 {name}: {problem}")
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True, assign=True)
    model.model_name = name
    model.sam_version = "2.1" if config.memory.sam21 else "2.0"
    return model.eval()


def build_sam2(checkpoint: str | os.PathLike[str], device: str | torch.device = "cpu") -> SAM2Image:
    """Load a SAM 2 / 2.1 checkpoint, recognising its size and version.

    Arguments:
      checkpoint: a file path, or a known name from `checkpoints.SAM2_CHECKPOINTS` found in the
        cache directory.
      device: where to put the model.
    Returns:
      the `SAM2Image` in eval mode, float32.
    Raises:
      `CheckpointError` (a `ValueError`) for an unreadable, truncated or foreign file.
    """
    path = resolve_sam2_checkpoint(checkpoint)
    model = sam2_from_state_dict(load_state_dict(path), source=str(path))
    return model.to(device)
