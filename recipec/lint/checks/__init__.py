"""Lint checks, one module per code. They are registered explicitly in ``recipec.lint.registry``."""
