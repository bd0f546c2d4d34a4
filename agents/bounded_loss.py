"""The invalid floor as an upper bound: a torchgfn regression loss that never pulls a rare invalid block up.

An invalid block's true reward is 0; stage 2 gives it a floor ``eps`` only so that its log reward is finite.
Trajectory balance then treats the floor as a *target*: the residual ``log Z + log P_F(tau) - log R(x)`` of a
sampled invalid block whose probability is below ``eps / Z`` is negative, and the squared loss raises that
block's probability up to the floor. The masked space holds far more invalid blocks than valid ones, so these
small raises add up and the policy drifts out of the valid region (the collapse of ``docs/results.md``).

With the bound, the floor is what it stands for, ``0 <= R(x) <= eps``: an invalid block's residual counts only
where it is positive (the policy gives the block more than ``eps / Z``), so invalid blocks are only ever pushed
down. Valid blocks keep the two-sided loss. Every trajectory-level objective of torchgfn (TB, LPV, RTB, RLPV,
Trust-PCL) applies its ``loss_fn`` to per-trajectory residuals of this sign (positive: too much probability),
so the bound plugs into their own loss classes through their ``loss_fn`` argument::

    bound = InvalidBound(SquaredLoss())
    gflownet = TBGFlowNet(pf=..., pb=None, constant_pb=True, loss_fn=bound)
    with bound.marking(invalid):            # (N,) bool, one per trajectory of the batch
        loss = gflownet.loss(env, trajectories)
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from gfn.gflownet.losses import RegressionLoss

__all__ = ["InvalidBound"]


class InvalidBound(RegressionLoss):
    """``base`` on every residual, except that the negative residuals of trajectories marked invalid count 0.

    Outside :meth:`marking` nothing is marked and the loss is ``base`` itself."""

    def __init__(self, base: RegressionLoss):
        self.base = base
        self._invalid: torch.Tensor | None = None

    @contextmanager
    def marking(self, invalid: torch.Tensor) -> Iterator[None]:
        """Mark the trajectories of the next loss evaluations: ``invalid`` has one bool per trajectory."""
        self._invalid = invalid
        try:
            yield
        finally:
            self._invalid = None

    @property
    def marks(self) -> torch.Tensor | None:
        """The current marks (None outside :meth:`marking`)."""
        return self._invalid

    def __call__(self, residuals: torch.Tensor) -> torch.Tensor:
        if self._invalid is None:
            return self.base(residuals)
        if self._invalid.shape != residuals.shape:
            raise ValueError(f"InvalidBound: {tuple(self._invalid.shape)} marks for residuals of shape "
                             f"{tuple(residuals.shape)} (the bound needs one residual per trajectory)")
        bounded = self._invalid.to(residuals.device) & (residuals < 0)
        return self.base(torch.where(bounded, torch.zeros_like(residuals), residuals))

    def __repr__(self) -> str:
        return f"InvalidBound({self.base!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InvalidBound) and self.base == other.base

    def __hash__(self) -> int:
        return hash(("InvalidBound", self.base))
