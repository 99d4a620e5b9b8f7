"""DeepClean online: the cleaner service."""
