"""Shared library of the DeepClean online services.

One concern per module; nothing is imported here so that light environments
(the Triton server's, with ``numpy<2`` and no gwframe) can import single
modules such as :mod:`utils.inference`.
"""
