"""DeepClean online: the replay service."""
