"""Export SAM's decoder (and optionally its image encoder) to ONNX for the browser and servers.

`export_onnx.export.run_export` (CLI: ``python -m export_onnx``) writes an export directory;
`export_onnx.runtime.OnnxDecoder` decodes with it using numpy + onnxruntime only;
`export_onnx.wire` is the embedding wire format. Only `export` and `verify` import torch.
"""

__version__ = "0.1.0"
