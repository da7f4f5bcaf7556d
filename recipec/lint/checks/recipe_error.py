"""The recipe does not load or does not resolve at a size.

Schema errors, YAML errors, unknown or conflicting transfer rule sets and sizes that cannot be
resolved (a batch that is not a whole number of sequences, a cluster that does not divide) are
reported as located findings instead of stopping the run, so that one bad size does not hide the
findings of the others.

**Anti-pattern**

```yaml
optimizer:
  lr: 3.0e-3
  weight_decay: 0.1        # no wd_convention: coupled or independent?
```

**Best practice**

```yaml
optimizer:
  lr: 3.0e-3
  weight_decay: 0.1
  wd_convention: coupled   # torch AdamW: w -= lr * wd * w
```
"""

CODE = "RC001"
NAME = "recipe-error"
SEVERITY = "error"
SUMMARY = "The recipe fails to load, or a size fails to resolve."
RATIONALE = ("A recipe that does not validate or resolve compiles to nothing; the error is located so that "
             "the pull request shows it at the line that causes it.")
CITATION = "recipec recipe schema (schemas/recipe.schema.json)"
OPTIONS: dict = {}
# No check(): the engine makes these findings from the loader's and resolver's located errors.
