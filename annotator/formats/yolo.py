"""YOLO-seg (Ultralytics) export and import, and YOLO detection boxes for SAM prompts.

Layout (what ``yolo segment train data=<folder>/data.yaml`` reads, from any working directory)::

    data.yaml                   train: images/train, val: images/train, names: {0: cat, 1: dog}
    images/<split>/<name>       the image files ("include images")
    labels/<split>/<stem>.txt   one object per line: ``class x1 y1 x2 y2 ...``, normalised
    README.txt                  what the export holds, and how to train on it

``data.yaml`` has no ``path`` key on purpose: Ultralytics' ``check_det_dataset`` resolves a
relative ``path`` (``path: .``) against the caller's working directory, and without one it takes
the folder of the yaml file itself, wherever the zip was extracted. ``<split>`` is ``train``
unless the caller assigns images to ``val`` or ``test``; with no validation images ``val`` is the
training set, which Ultralytics requires to be set.

Coordinates are the pixel-corner polygon vertices divided by the image width and height.

Choices forced by the format (documented in the tests):
  * A line is one instance and one polygon: a mask in several parts is joined into one ring by
    zero-width bridges, and importing a line gives one annotation (``yolo_segments``).
  * There are no holes: they are filled on export (the outer rings only), as Ultralytics'
    own converter does.
  * Images without objects get an empty label file, the Ultralytics convention for background.
  * Without the images (no "include images") Ultralytics cannot train: the zip says so in
    ``README.txt`` and ``data.yaml``, and still imports here (image sizes from the project).
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np
import yaml
from PIL import Image

from annotator.formats.dataset import NOT_CARRIED as _NOT_CARRIED
from annotator.formats.dataset import Dataset, DatasetAnnotation, DatasetImage, FormatError
from annotator.formats.safe_zip import ZipLimits, ZipSource, as_directory
from annotator.formats.yolo_segments import join_rings, outer_rings, split_line
from annotator.geometry import GeometryError, Polygon, validate_polygons

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
# Normalised coordinates this far outside [0, 1] are rounding, beyond it a broken file.
_NORM_TOLERANCE = 0.01
MAX_IMAGE_PIXELS = 2**28
SPLITS = ("train", "val", "test")
# Ultralytics finds images by suffix, so an image is written under a suffix of its real format,
# told by its first bytes (not PIL: opening checks the pixel count against a limit that the
# upload already applied, and the export has no business refusing a stored image).
_MAGIC = (
    (b"\xff\xd8\xff", (".jpg", ".jpeg", ".mpo")),
    (b"\x89PNG\r\n\x1a\n", (".png",)),
    (b"BM", (".bmp",)),
    (b"II*\x00", (".tif", ".tiff")),
    (b"MM\x00*", (".tif", ".tiff")),
)

ImageSource = bytes | str | Path


def _fmt(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".") if v else "0"


def seg_line(
    ann: DatasetAnnotation, class_id: int, height: int, width: int, tolerance: float = 0.5
) -> str | None:
    """The YOLO-seg line of one annotation (its parts joined, holes filled); None if empty."""
    rings = outer_rings(ann, height, width, tolerance)
    if not rings:
        return None
    ring = join_rings(rings)
    coords = [_fmt(v) for x, y in ring.tolist() for v in (x / width, y / height)]
    return " ".join([str(class_id), *coords])


def data_yaml(labels: list[str], splits: set[str], with_images: bool) -> str:
    """``data.yaml`` with paths relative to its own folder (module doc: no ``path`` key)."""
    doc: dict[str, Any] = {"train": "images/train"}
    doc["val"] = "images/val" if "val" in splits else "images/train"
    if "test" in splits:
        doc["test"] = "images/test"
    doc["names"] = dict(enumerate(labels))
    header = "# SAM Annotator export. Paths are relative to this file's folder (no 'path' key).\n"
    if not with_images:
        header += (
            "# The images are NOT in this export: put each one under images/<split>/ as named by\n"
            "# its label file (see README.txt), or export again with 'include images'.\n"
        )
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _readme(with_images: bool, count: int) -> str:
    text = (
        f"YOLO-seg dataset exported by SAM Annotator: {count} images, one label file each under\n"
        "labels/<split>/ (one object per line: class id, then its outline as normalised x y\n"
        "pairs; the parts of an object are joined into one outline and holes are filled).\n\n"
        + _NOT_CARRIED.replace("their filled rectangle", "4-point polygons (their rectangle)")
        + "\n"
    )
    if with_images:
        return text + (
            "Train from any folder with Ultralytics:\n\n"
            "    yolo segment train data=<path to this folder>/data.yaml model=yolo11n-seg.pt\n\n"
            "data.yaml sets no 'path', so the dataset is found next to data.yaml.\n"
        )
    return text + (
        "The images are NOT included. Ultralytics needs them to train: export again with\n"
        "'include images', or copy each image to images/<split>/ under the name its label file\n"
        "has (labels/train/000012-cat.txt -> images/train/000012-cat.jpg).\n"
    )


def _safe_name(file_name: str) -> PurePosixPath:
    path = PurePosixPath(file_name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"image file name {file_name!r} must be a relative path inside the zip")
    return path


def _image_name(file_name: str, source: ImageSource) -> PurePosixPath:
    """``file_name`` with a suffix Ultralytics reads as the image's real format."""
    path = _safe_name(file_name)
    if isinstance(source, bytes):
        head = source[:12]
    else:
        with open(source, "rb") as f:
            head = f.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        suffixes: tuple[str, ...] = (".webp",)
    else:
        found = [s for magic, s in _MAGIC if head.startswith(magic)]
        if not found:
            raise ValueError(f"{file_name} is not a JPEG, PNG, WebP, BMP or TIFF image")
        suffixes = found[0]
    return path if path.suffix.lower() in suffixes else path.with_suffix(suffixes[0])


def export_yolo_seg(
    dataset: Dataset,
    destination: str | Path | BinaryIO,
    images: Mapping[str, ImageSource] | None = None,
    tolerance: float = 0.5,
    splits: Mapping[str, str] | None = None,
) -> None:
    """Write a YOLO-seg zip that ``yolo segment train data=<folder>/data.yaml`` trains on.

    Arguments:
      dataset: the annotations; labels give the class ids (index in ``dataset.labels``).
      destination: zip path or writable binary file object.
      images: ``file_name -> bytes or path`` of every image ("include images"), looked up once
        per image as the zip is written, so a lazy mapping holds one image in memory at a
        time; None writes labels only, with a README saying the images must be added.
      tolerance: polygon simplification in pixels (``geometry.mask_to_polygons``).
      splits: ``file_name -> "train" | "val" | "test"``; images not in it go to ``train``.

    Raises:
      ValueError: an image without its file when ``images`` is given, an image Ultralytics
        cannot read, a name outside the zip, two images with one label file, an unknown split.
    """
    index = dataset.label_index()
    dataset.check_labels()
    used_splits = set()
    written: set[PurePosixPath] = set()
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for image in dataset.images:
            split = (splits or {}).get(image.file_name, "train")
            if split not in SPLITS:
                raise ValueError(f"{image.file_name}: split {split!r} is not one of {SPLITS}")
            used_splits.add(split)
            name = _safe_name(image.file_name)
            if images is not None:
                try:  # one lookup: a lazy mapping may read the file from storage in it
                    source = images[image.file_name]
                except KeyError:
                    raise ValueError(f"{image.file_name}: no image file given") from None
                name = _image_name(image.file_name, source)
                if isinstance(source, bytes):
                    archive.writestr(f"images/{split}/{name}", source)
                else:
                    archive.write(source, f"images/{split}/{name}")
            label_path = PurePosixPath("labels", split, name.with_suffix(".txt"))
            if label_path in written:
                raise ValueError(
                    f"{image.file_name}: another image has the label file {label_path}"
                )
            written.add(label_path)
            lines = [
                line
                for ann in image.annotations
                if (line := seg_line(ann, index[ann.label], image.height, image.width, tolerance))
            ]
            archive.writestr(str(label_path), "".join(line + "\n" for line in lines))
        with_images = images is not None
        archive.writestr("data.yaml", data_yaml(dataset.labels, used_splits, with_images))
        archive.writestr("README.txt", _readme(with_images, len(dataset.images)))


# --- Import --------------------------------------------------------------------------------------


def read_class_names(root: Path) -> list[str]:
    """The class names of a YOLO dataset folder's ``data.yaml``; FormatError without one."""
    candidates = sorted(root.rglob("*.yaml")) + sorted(root.rglob("*.yml"))
    if not candidates:
        raise FormatError("no data.yaml in the dataset")
    path = next((p for p in candidates if p.name in ("data.yaml", "data.yml")), candidates[0])
    try:
        doc = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path.name} is not valid YAML: {exc}") from None
    except RecursionError:
        # PyYAML's composer recurses once per nesting level: "[[[[...]]]]" exhausts the stack.
        raise FormatError(f"{path.name} is not valid YAML: nested too deeply") from None
    names: Any = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        if not all(isinstance(k, int) for k in names) or sorted(names) != list(range(len(names))):
            raise FormatError(f"{path.name}: names keys must be 0..n-1")
        names = [names[k] for k in range(len(names))]
    if not isinstance(names, list) or not all(isinstance(n, str | int) for n in names):
        raise FormatError(f"{path.name}: 'names' must be a list or an index -> name mapping")
    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        raise FormatError(f"{path.name}: duplicate class names")
    return names


# The image formats a dataset's images are read in (their sizes only); PIL's other decoders are
# rarely used and EPS would run Ghostscript where it is installed.
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as img:
            width, height = img.size
    except (OSError, Image.DecompressionBombError) as exc:
        raise FormatError(f"{path.name} is not a readable image: {exc}") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise FormatError(f"{path.name} is {width}x{height}, too large")
    return width, height


def _parse_label_file(
    path: Path, names: list[str], width: int, height: int, where: str
) -> list[DatasetAnnotation]:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise FormatError(f"{where} is not a text file") from None
    annotations = []
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        loc = f"{where}:{n}"
        try:
            class_id = int(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise FormatError(
                f"{loc}: expected 'class x y ...' numbers, got {line[:80]!r}"
            ) from None
        if not 0 <= class_id < len(names):
            raise FormatError(
                f"{loc}: class {class_id} is not in data.yaml names (0..{len(names) - 1})"
            )
        if not all(
            math.isfinite(v) and -_NORM_TOLERANCE <= v <= 1 + _NORM_TOLERANCE for v in values
        ):
            raise FormatError(f"{loc}: coordinates must be normalised to [0, 1]")
        if len(values) == 4:
            cx, cy, w, h = values
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            annotations.append(DatasetAnnotation(names[class_id], bbox=box))
            continue
        if len(values) < 6 or len(values) % 2:
            raise FormatError(f"{loc}: a polygon needs an even number (>= 6) of coordinates")
        points = np.asarray(values, dtype=np.float64).reshape(-1, 2) * (width, height)
        try:
            # One line is one object: its joined parts are split apart again (yolo_segments).
            parts = split_line(points)
            polygons: list[Polygon] = validate_polygons(parts, width, height)
        except (GeometryError, FormatError) as exc:
            raise FormatError(f"{loc}: {exc}") from None
        annotations.append(DatasetAnnotation(names[class_id], polygons=polygons))
    return annotations


def _images_dir_for(label_path: Path, root: Path) -> Path:
    rel = label_path.relative_to(root).parts
    if "labels" in rel:
        i = len(rel) - 1 - rel[::-1].index("labels")
        return root.joinpath(*rel[:i], "images", *rel[i + 1 : -1])
    return label_path.parent


def read_yolo_seg_folder(
    root: Path, image_sizes: Mapping[str, tuple[int, int]] | None = None
) -> Dataset:
    """Import an extracted YOLO-seg dataset; see ``import_yolo_seg``."""
    names = read_class_names(root)
    all_images = {p.resolve(): p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
    by_stem = {p.stem: p for p in all_images.values()}
    images: dict[str, DatasetImage] = {}
    used: set[Path] = set()
    texts = sorted(root.rglob("*.txt"))
    # Ultralytics trees also hold image-list files (train.txt) beside labels/; when a labels/
    # folder exists only the files under it are labels.
    in_labels = [p for p in texts if "labels" in p.relative_to(root).parts]
    for label_path in in_labels or texts:
        if label_path.name.lower() in ("classes.txt", "readme.txt"):
            continue
        where = str(label_path.relative_to(root))
        folder = _images_dir_for(label_path, root)
        image_path = next(
            (p for s in IMAGE_SUFFIXES if (p := folder / (label_path.stem + s)).exists()),
            by_stem.get(label_path.stem),
        )
        if image_path is not None:
            file_name = _relative_image_name(image_path, root)
            width, height = _image_size(image_path)
            used.add(image_path.resolve())
        elif image_sizes and label_path.stem in image_sizes:
            file_name = label_path.stem
            width, height = image_sizes[label_path.stem]
        else:
            raise FormatError(f"{where}: no image named {label_path.stem}.* and no size given")
        annotations = _parse_label_file(label_path, names, width, height, where)
        images[file_name] = DatasetImage(file_name, width, height, annotations)
    for resolved, path in sorted(all_images.items()):
        if resolved not in used:
            width, height = _image_size(path)
            name = _relative_image_name(path, root)
            images.setdefault(name, DatasetImage(name, width, height))
    return Dataset(labels=names, images=list(images.values()))


def _relative_image_name(path: Path, root: Path) -> str:
    """The image's name below ``images/`` and its split folder (``images/train/sub/a.png`` is
    ``sub/a.png``): the split is where Ultralytics reads it from, not part of its name."""
    rel = path.relative_to(root).parts
    if "images" in rel:
        rel = rel[len(rel) - rel[::-1].index("images") :]
        if len(rel) > 1 and rel[0] in (*SPLITS, "valid"):
            rel = rel[1:]
    return str(PurePosixPath(*rel))


def import_yolo_seg(
    source: ZipSource,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    limits: ZipLimits | None = None,
) -> Dataset:
    """Import a YOLO-seg dataset from a zip (path, bytes, file object) or a folder.

    Arguments:
      source: the archive or folder; ``data.yaml`` (or any ``*.yaml`` with ``names``) required.
      image_sizes: ``stem -> (width, height)`` for label files whose image is not included.
      limits: zip safety limits (``safe_zip.ZipLimits``).

    Returns:
      One annotation per label line (polygons in pixels; 4-value lines become box-only
      annotations); images found without labels are included without annotations.
    """
    with as_directory(source, limits) as root:
        return read_yolo_seg_folder(root, image_sizes)


# --- Detection boxes -----------------------------------------------------------------------------


def read_yolo_boxes(
    source: str | Path, width: int, height: int
) -> list[tuple[int, list[float], float]]:
    """YOLO detection labels (``class cx cy w h [conf]`` normalised) as prompts for SAM.

    Arguments:
      source: a ``Path`` to the ``.txt`` file, or a ``str`` holding its text.
      width, height: the image size in pixels.

    Returns:
      ``(class_id, [x0, y0, x1, y1] in original pixels, confidence (1.0 when absent))`` per line.
    """
    text = Path(source).read_text() if isinstance(source, Path) else source
    boxes = []
    for n, line in enumerate(io.StringIO(text), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            class_id = int(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise FormatError(
                f"line {n}: expected 'class cx cy w h [conf]', got {line[:80]!r}"
            ) from None
        if len(values) not in (4, 5) or not all(math.isfinite(v) for v in values) or class_id < 0:
            raise FormatError(f"line {n}: expected 'class cx cy w h [conf]', got {line[:80]!r}")
        # The boxes become SAM prompts in a job: refuse what no detector writes (a box far off
        # the image, an empty or inverted one, a confidence outside [0, 1]) now, not in a worker.
        if not all(-_NORM_TOLERANCE <= v <= 1 + _NORM_TOLERANCE for v in values):
            raise FormatError(f"line {n}: values must be normalised to [0, 1], got {line[:80]!r}")
        if values[2] <= 0 or values[3] <= 0:
            raise FormatError(f"line {n}: the box has no width or height")
        cx, cy, w, h = values[:4]
        box = [
            (cx - w / 2) * width,
            (cy - h / 2) * height,
            (cx + w / 2) * width,
            (cy + h / 2) * height,
        ]
        boxes.append((class_id, box, values[4] if len(values) == 5 else 1.0))
    return boxes
