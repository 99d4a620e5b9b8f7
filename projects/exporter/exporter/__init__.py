"""DeepClean online: the exporter service."""
