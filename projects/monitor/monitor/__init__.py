"""DeepClean online: the monitor service."""
