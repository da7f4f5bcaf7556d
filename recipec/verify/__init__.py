"""Verification: the GPU pre-flight (``recipec verify``). The only package besides ``recipec.torch`` that
imports torch — and only in the modules that train or measure (model, data, sigma, train, coord, run, and
``factory`` when it builds a model). ``ladder``, ``verdict``, ``coord_verdict`` (scipy), ``progress``,
``calibrate`` and ``report`` are torch-free.
"""
