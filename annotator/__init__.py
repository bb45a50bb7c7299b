"""The Django app. `annotator.auto_annotate` is the Ultralytics-compatible entry point."""


def __getattr__(name: str) -> object:
    # Imported on first use: Django imports this package at start, and the web process must
    # never pay for torch.
    if name == "auto_annotate":
        from annotator.autoannotate.run import auto_annotate

        return auto_annotate
    raise AttributeError(f"module 'annotator' has no attribute {name!r}")
