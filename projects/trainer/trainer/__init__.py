"""DeepClean online: the trainer service."""
