"""Per-framework knowledge of parameter names: which framework module is which recipec kind (standard library only)."""
