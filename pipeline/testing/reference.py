"""What the fidelity tests compare extraction with: the measures computed again, directly, in
numpy (rows normalised, rollout), and the comparison itself, within half a code step."""

from __future__ import annotations

import numpy as np

TOLERANCE = 1 / 510 + 1e-6  # half a step, and float32 rounding of the reference itself


def row_normalised(x: np.ndarray) -> np.ndarray:
    """Each row (last axis) divided by its sum; an all-zero row stays zero."""
    total = x.sum(axis=-1, keepdims=True)
    return np.divide(x, total, out=np.zeros_like(x), where=total > 0)


def reference_rollout(attentions: np.ndarray) -> np.ndarray:
    """(L, H, T, T) -> (L, 1, T, T): Â_l = 0.5 mean_h A_l + 0.5 I, R_l = Â_l R_{l-1}."""
    joint, out = None, []
    for a in attentions:
        hat = 0.5 * a.mean(axis=0) + 0.5 * np.eye(a.shape[-1])
        joint = hat if joint is None else hat @ joint
        out.append(joint[None])
    return np.stack(out)


def assert_close(stored: np.ndarray, expected: np.ndarray, what: str,
                 tolerance: float = TOLERANCE) -> None:
    """AssertionError naming `what` unless the shapes agree and every cell is within tolerance."""
    assert stored.shape == expected.shape, (what, stored.shape, expected.shape)
    worst = np.abs(stored - expected).max()
    assert worst <= tolerance, f"{what}: a stored cell is {worst * 510:.2f}/510 off"
