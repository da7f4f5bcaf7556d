"""What a user sees while verify runs: the plan before any training, re-estimates from measured steps,
and progress with elapsed time and ETA. Everything goes to stderr and is flushed. No torch here.
"""

from __future__ import annotations

import sys
import time


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, s = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def plan_text(*, model: str, widths, depth: int, steps: int, batch: int, seq_len: int, checkpoints: int,
              compression: float, chosen: str, reached: float | None, costs, throughput: str,
              budget_seconds: float | None, head_dims=None) -> str:
    """The plan as a small table: one row per rung with its parameters, memory and time."""
    gib = 2**30
    comp = (f"×{compression:.4g} ({chosen}); the slowest rung sees {reached:.2f} AdamW timescales"
            if reached is not None else f"×{compression:.4g} ({chosen}); no weight decay on hidden matrices")
    lines = [f"plan: {model}; widths {', '.join(map(str, widths))} at depth {depth}; {steps} steps × {batch} × "
             f"{seq_len} tokens; σ at {checkpoints} checkpoints",
             f"  weight-decay time compression {comp}",
             f"  {'rung':<6}{'width':>7}{'head_dim':>10}{'params':>13}{'memory':>12}{'time':>14}"]
    for i, c in enumerate(costs):
        hd = f"{head_dims[i]}" if head_dims else "-"
        lines.append(f"  {f'{i + 1}/{len(costs)}':<6}{c.width:>7}{hd:>10}{c.params:>13,}"
                     f"{c.memory_bytes / gib:>10.2f} GiB{duration(c.seconds):>14}")
    total = sum(c.seconds for c in costs)
    budget = f"; budget {duration(budget_seconds)}" if budget_seconds is not None else ""
    lines.append(f"  total ≈ {duration(total)} ({throughput}){budget}")
    return "\n".join(lines) + "\n"


class Progress:
    """Progress events from the trainer: ``measured`` once per rung (the first timed steps), and
    ``checkpoint`` at each σ checkpoint. Keeps the ladder's ETA: the current rung from its measured rate,
    the rungs still to come from their planned times × the measured/planned ratio so far."""

    def __init__(self, planned: list[float], stream=None):
        self.planned = planned
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.rung = 0
        self.rung_estimate = planned[0] if planned else 0.0
        self.ratio = 1.0  # measured / planned, from the rungs measured so far
        self.measured_rungs: list[float] = []  # re-estimated seconds of each rung (from its first steps)
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def start_rung(self, index: int) -> None:
        self.rung = index
        self.rung_estimate = self.planned[index] * self.ratio
        self.rung_started = time.perf_counter()

    def _write(self, text: str, end: str = "\n") -> None:
        self.stream.write(text + end)
        self.stream.flush()

    def later(self) -> float:
        return sum(self.planned[self.rung + 1:]) * self.ratio

    def measured(self, label: str, step_seconds: float, sigma_seconds: float, estimate: float) -> None:
        """The rung's first timed steps: ``estimate`` is its re-estimated time (steps and σ)."""
        planned = self.planned[self.rung]
        self.measured_rungs.append(estimate)
        done = len(self.measured_rungs)
        self.ratio = sum(self.measured_rungs) / max(sum(self.planned[:done]), 1e-9)
        self.rung_estimate = estimate
        self._write(f"{label}: {step_seconds * 1000:.1f} ms/step measured, σ {sigma_seconds:.2f} s cold → rung ≈ "
                    f"{duration(estimate)} (planned {duration(planned)}); ladder ETA "
                    f"{duration(estimate - (time.perf_counter() - self.rung_started) + self.later())}")

    def checkpoint(self, label: str, step: int, steps: int, loss: float, rung_elapsed: float) -> None:
        rate = rung_elapsed / step
        eta = rate * (steps - step) + self.later()
        filled = int(24 * step / steps)
        bar = "█" * filled + "·" * (24 - filled)
        self._write(f"{label} [{bar}] step {step}/{steps} loss {loss:.4f} · elapsed "
                    f"{duration(time.perf_counter() - self.started)} · ETA {duration(eta)}",
                    end="\r" if self.tty and step < steps else "\n")

    def note(self, text: str) -> None:
        self._write(text)
