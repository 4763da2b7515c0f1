"""Built-in connector plugins, one subpackage per source."""

if __name__ != "vitalsign.connectors":  # pragma: no cover - guards `import connectors` from a checkout
    raise ImportError("import vitalsign.connectors (install the package), not the connectors/ folder")
