"""Verification: the GPU pre-flight (``recipec verify``). The only package besides ``recipec.torch`` that
imports torch — and only in the modules that train or measure (model, data, sigma, train, run).
``ladder``, ``verdict`` and ``report`` are torch-free.
"""
