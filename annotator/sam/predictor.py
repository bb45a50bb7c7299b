"""Interactive prediction: encode an image once, then decode masks for many prompts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .sam import Sam
from .transforms import ResizeLongestSide


def to_rgb_uint8(image: np.ndarray, image_format: str = "RGB") -> np.ndarray:
    """Normalise an image array to HWC uint8 RGB.

    Conversions (documented behaviour): HW or HW1 grayscale is repeated to 3 channels; HW4
    RGBA drops alpha (no compositing); uint16 is scaled to 8 bits (`>> 8`); bool becomes 0/255;
    float images in [0, 1] are scaled by 255. `image_format="BGR"` flips the channels.
    Anything else raises `ValueError`.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image_format not in ("RGB", "BGR"):
        raise ValueError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"image must be HW, HW1, HW3 or HW4, got shape {image.shape}")
    if image.dtype == np.uint8:
        pass
    elif image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all() or image.min() < 0.0 or image.max() > 1.0:
            raise ValueError("float images must be finite and in [0, 1]")
        image = (image * 255.0 + 0.5).astype(np.uint8)
    else:
        raise ValueError(f"unsupported image dtype {image.dtype}; use uint8, uint16 or float")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    if image_format == "BGR":
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)


class SamPredictor:
    """Compute the image embedding once, then predict masks for prompts cheaply.

    Arguments:
      sam_model: the `Sam` model.
      dtype: optional `torch.bfloat16` / `torch.float16` autocast for the image encoder on CUDA
        (ignored on CPU, where fp32 keeps outputs within the reference tolerances). The
        embedding is always returned and stored as float32.

    Prompt conventions: coordinates are XY in original image pixels. Points outside the image
    are passed to SAM unchanged (the model was trained to handle them); NaN/inf coordinates
    raise `ValueError`. A box with x1 < x0 or y1 < y0 is normalised by swapping the corners.
    `predict()` with no prompt at all decodes the "no prompt" query as the reference does
    (an empty sparse prompt: the image's most salient masks).
    """

    def __init__(self, sam_model: Sam, dtype: torch.dtype | None = None) -> None:
        self.model = sam_model
        self.features: torch.Tensor | None = None
        self.original_size: tuple[int, int] = (0, 0)
        self.input_size: tuple[int, int] = (0, 0)
        self.is_image_set = False
        self.transform = ResizeLongestSide(sam_model.img_size)
        self.dtype = dtype
        self.reset_image()

    @property
    def device(self) -> torch.device:
        return self.model.device

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.dtype is not None and self.dtype != torch.float32 and self.device.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=self.dtype)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """Encode an image.

        Arguments:
          image: HWC uint8 (see `to_rgb_uint8` for the conversions applied to other inputs).
          image_format: "RGB" or "BGR".
        """
        image = to_rgb_uint8(image, image_format)
        input_image = self.transform.apply_image(image)
        input_torch = torch.as_tensor(input_image, device=self.device)
        input_torch = input_torch.permute(2, 0, 1).contiguous()[None, :, :, :]
        self.set_torch_image(input_torch, image.shape[:2])

    @torch.inference_mode()
    def set_torch_image(
        self, transformed_image: torch.Tensor, original_image_size: tuple[int, ...]
    ) -> None:
        """Encode an already resized image.

        Arguments:
          transformed_image: (1, 3, h, w) with longest side 1024, RGB pixel values 0..255.
          original_image_size: (H, W) of the image before resizing.
        """
        if (
            transformed_image.ndim != 4
            or transformed_image.shape[1] != 3
            or max(*transformed_image.shape[2:]) != self.model.img_size
        ):
            raise ValueError(
                f"set_torch_image expects (1, 3, h, w) with longest side {self.model.img_size}, "
                f"got {tuple(transformed_image.shape)}"
            )
        self.reset_image()
        self.original_size = (int(original_image_size[0]), int(original_image_size[1]))
        self.input_size = (int(transformed_image.shape[-2]), int(transformed_image.shape[-1]))
        input_image = self.model.preprocess(transformed_image.to(self.device, torch.float32))
        with self._autocast():
            features = self.model.image_encoder(input_image)
        self.features = features.float()
        self.is_image_set = True

    def set_image_embedding(
        self, embedding: torch.Tensor | np.ndarray, original_size: tuple[int, int]
    ) -> None:
        """Use a stored embedding instead of encoding the image again.

        Arguments:
          embedding: (1, 256, 64, 64) (or (256, 64, 64)) features from `get_image_embedding()` or
            `embed_images`, any float dtype (fp16 storage is fine); converted to float32.
          original_size: (H, W) of the image the embedding was computed from.
        """
        tensor = torch.as_tensor(
            np.asarray(embedding) if not isinstance(embedding, torch.Tensor) else embedding
        )
        if tensor.ndim == 3:
            tensor = tensor[None]
        expected = (
            1,
            self.model.prompt_encoder.embed_dim,
            *self.model.prompt_encoder.image_embedding_size,
        )
        if tuple(tensor.shape) != expected or not tensor.is_floating_point():
            raise ValueError(
                f"embedding must be a float tensor of shape {expected}, got {tuple(tensor.shape)} {tensor.dtype}"
            )
        h, w = int(original_size[0]), int(original_size[1])
        if h < 1 or w < 1:
            raise ValueError(f"original_size must be positive (H, W), got {original_size}")
        self.reset_image()
        self.features = tensor.to(self.device, torch.float32)
        self.original_size = (h, w)
        self.input_size = self.transform.get_preprocess_shape(h, w, self.model.img_size)
        self.is_image_set = True

    @torch.inference_mode()
    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predict masks for one set of prompts on the current image.

        Arguments:
          point_coords: (N, 2) XY in original image pixels.
          point_labels: (N,) 1 foreground, 0 background.
          box: (4,) XYXY in original image pixels.
          mask_input: (1, 256, 256) low-res logits from a previous call.
          multimask_output: 3 masks (ambiguous prompts) instead of 1.
          return_logits: return mask logits instead of booleans.
        Returns:
          masks (C, H, W) bool (or float32 logits), iou_predictions (C,) float32, low-res logits
          (C, 256, 256) float32.
        """
        self._require_image()
        coords_torch = labels_torch = box_torch = mask_torch = None
        if point_coords is not None:
            if point_labels is None:
                raise ValueError("point_labels must be given with point_coords")
            coords = _finite_array(point_coords, "point_coords").reshape(-1, 2)
            labels = np.asarray(point_labels).reshape(-1)
            if labels.shape[0] != coords.shape[0]:
                raise ValueError(f"{coords.shape[0]} points but {labels.shape[0]} labels")
            coords = self.transform.apply_coords(coords, self.original_size)
            coords_torch = torch.as_tensor(coords, dtype=torch.float, device=self.device)[None]
            labels_torch = torch.as_tensor(labels, dtype=torch.int, device=self.device)[None]
        if box is not None:
            box_np = normalize_boxes(_finite_array(box, "box").reshape(-1, 4))
            box_np = self.transform.apply_boxes(box_np, self.original_size)
            box_torch = torch.as_tensor(box_np, dtype=torch.float, device=self.device)
        if mask_input is not None:
            mask_np = _finite_array(mask_input, "mask_input")
            if mask_np.shape != (1, 256, 256):
                raise ValueError(f"mask_input must be (1, 256, 256), got {mask_np.shape}")
            mask_torch = torch.as_tensor(mask_np, dtype=torch.float, device=self.device)[None]
        masks, iou_predictions, low_res = self.predict_torch(
            coords_torch, labels_torch, box_torch, mask_torch, multimask_output, return_logits
        )
        return (
            masks[0].detach().cpu().numpy(),
            iou_predictions[0].detach().float().cpu().numpy(),
            low_res[0].detach().float().cpu().numpy(),
        )

    @torch.inference_mode()
    def predict_torch(
        self,
        point_coords: torch.Tensor | None,
        point_labels: torch.Tensor | None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batched prediction with prompts already in the resized (`self.transform`) frame.

        Arguments:
          point_coords: (B, N, 2) XY; point_labels: (B, N).
          boxes: (B, 4) XYXY (e.g. many boxes at once).
          mask_input: (B, 1, 256, 256) low-res logits.
        Returns:
          masks (B, C, H, W), iou_predictions (B, C), low-res logits (B, C, 256, 256).
        """
        self._require_image()
        points = (point_coords, point_labels) if point_coords is not None else None
        if point_coords is not None and point_labels is None:
            raise ValueError("point_labels must be given with point_coords")
        if boxes is not None:
            boxes = boxes.reshape(-1, 4)
            boxes = torch.cat(
                [
                    torch.minimum(boxes[:, :2], boxes[:, 2:]),
                    torch.maximum(boxes[:, :2], boxes[:, 2:]),
                ],
                dim=1,
            )
        sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
        low_res_masks, iou_predictions = self.model.mask_decoder(
            image_embeddings=self.features,
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
        )
        masks = self.model.postprocess_masks(low_res_masks, self.input_size, self.original_size)
        if not return_logits:
            masks = masks > self.model.mask_threshold
        return masks, iou_predictions, low_res_masks

    def get_image_embedding(self) -> torch.Tensor:
        """The (1, 256, 64, 64) float32 embedding of the current image."""
        self._require_image()
        assert self.features is not None
        return self.features

    def reset_image(self) -> None:
        """Forget the current image."""
        self.is_image_set = False
        self.features = None
        self.original_size = (0, 0)
        self.input_size = (0, 0)

    def _require_image(self) -> None:
        if not self.is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")


def _finite_array(values: object, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def normalize_boxes(boxes: np.ndarray) -> np.ndarray:
    """(B, 4) boxes with corners in any order -> XYXY with x0 <= x1 and y0 <= y1."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate(
        [np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], axis=1
    )


def _batches(items: Sequence[np.ndarray], size: int) -> Iterator[Sequence[np.ndarray]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@torch.inference_mode()
def embed_images(
    model: Sam,
    images: Sequence[np.ndarray],
    batch_size: int = 8,
    dtype: torch.dtype | None = None,
    return_sizes: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, list[tuple[int, int]]]:
    """Encode many images in batches (for GPU throughput).

    Each image is converted, resized and padded exactly as `SamPredictor.set_image` does, so
    `predictor.set_image_embedding(out[i:i+1], images[i].shape[:2])` decodes as after
    `set_image(images[i])`.

    Arguments:
      model: the `Sam` model.
      images: HWC uint8 RGB images of any sizes (other layouts converted by `to_rgb_uint8`).
      batch_size: images per encoder call.
      dtype: optional CUDA autocast dtype (bf16/fp16); ignored on CPU.
      return_sizes: also return each image's resized (h, w) input size.
    Returns:
      (N, 256, 64, 64) float32 embeddings on the model's device, and with `return_sizes` the
      list of input sizes (the original sizes are `image.shape[:2]`).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    transform = ResizeLongestSide(model.img_size)
    use_autocast = dtype is not None and dtype != torch.float32 and model.device.type == "cuda"
    outputs: list[torch.Tensor] = []
    sizes: list[tuple[int, int]] = []
    for batch in _batches(list(images), batch_size):
        tensors = []
        for image in batch:
            resized = transform.apply_image(to_rgb_uint8(image))
            sizes.append((resized.shape[0], resized.shape[1]))
            pixels = torch.as_tensor(resized, device=model.device).permute(2, 0, 1)
            tensors.append(model.preprocess(pixels[None].float()))
        ctx = torch.autocast("cuda", dtype=dtype) if use_autocast else contextlib.nullcontext()
        with ctx:
            outputs.append(model.image_encoder(torch.cat(tensors)).float())
    embeddings = torch.cat(outputs) if outputs else torch.empty(0, 256, 64, 64)
    return (embeddings, sizes) if return_sizes else embeddings


@torch.inference_mode()
def segment_boxes(predictor: SamPredictor, boxes: np.ndarray) -> np.ndarray:
    """SAM masks for all boxes of the current image, in one batched decoder call.

    Arguments:
      predictor: with the image (or its embedding) set.
      boxes: (N, 4) XYXY in original pixels.

    Returns:
      (N, H, W) bool masks, one per box (single-mask output, as for a box prompt).
    """
    if len(boxes) == 0:
        return np.zeros((0, *predictor.original_size), dtype=bool)
    boxes_t = torch.as_tensor(np.asarray(boxes, np.float32), device=predictor.device)
    boxes_t = predictor.transform.apply_boxes_torch(boxes_t, predictor.original_size)
    masks, _, _ = predictor.predict_torch(None, None, boxes=boxes_t, multimask_output=False)
    return masks[:, 0].cpu().numpy()
