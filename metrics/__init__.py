"""The metrics layer: one module per family, registered through the plugin hooks."""

if __name__ != "vitalsign.metrics":  # pragma: no cover - guards `import metrics` from a checkout
    raise ImportError("import vitalsign.metrics (install the package), not the metrics/ folder")
