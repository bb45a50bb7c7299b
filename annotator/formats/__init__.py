"""Dataset import and export (COCO, YOLO-seg, PNG masks), pure Python: no Django, no torch.

Everything goes through the small in-memory model in ``dataset.py``; the backend maps its rows
to and from it. Imports read and validate the whole input before returning, so a malformed file
raises ``FormatError`` and nothing is half-imported.
"""

from annotator.formats.dataset import Dataset, DatasetAnnotation, DatasetImage, FormatError

__all__ = ["Dataset", "DatasetAnnotation", "DatasetImage", "FormatError"]
