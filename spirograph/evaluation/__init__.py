"""The evaluation protocol: linear probes on frozen features, feature averaging, invariance.

This is the protocol of Foster, Pukdee & Rainforth (ICLR 2021), implemented once so that
every method is scored the same way:

1. **Data.** The probe is trained on the first half of the train split (50,000 items)
   and tested on the first half of the test split (10,000 items)
   (``Spirograph("train", subset=0.5)``, ``Spirograph("test", subset=0.5)``).
2. **Transformed inputs.** Each item keeps its target parameters and has its nuisance
   parameters drawn afresh from the nuisance prior: draw ``m`` of row ``i`` of a split
   with seed ``s_split`` is ``space.sample_nuisance(targets, seed=seed, index=i,
   stream=(EVALUATION_STREAM, s_split, m))``, a pure function of ``(seed, s_split, i, m)``
   identical on every machine and device.
3. **Features.** The frozen encoder (eval mode, ``torch.no_grad``) maps each rendered
   batch ``(B, 3, 32, 32)`` on ``device`` to features ``(B, d)``. With feature averaging
   the feature of an item is the mean over ``M`` nuisance draws, for both the probe's
   training set and the test set; the paper's default is ``M = 1``.
4. **Probe.** One linear layer on all target tasks, fitted by full-batch L-BFGS (500
   steps, L2 weight ``1e-8`` on the weights, see [`spirograph.probes`][spirograph.probes]).
5. **Scores.** Test MSE per task and its mean over tasks; also ``R^2`` and the MSE over
   the task's prior variance.
"""

from __future__ import annotations

# The package is split by job: the result records (_records), the nuisance draws and checked
# encoder calls (_encoding), the protocol itself (_protocol) and the invariance diagnostics
# (_invariance); everything public is re-exported here.
from spirograph.evaluation._encoding import EVALUATION_STREAM, INVARIANCE_STREAM, Encoder
from spirograph.evaluation._invariance import invariance
from spirograph.evaluation._protocol import PAPER_N_DRAWS, evaluate, feature_averaging
from spirograph.evaluation._records import EvaluationResult, InvarianceResult

__all__ = [
    "EVALUATION_STREAM",
    "INVARIANCE_STREAM",
    "PAPER_N_DRAWS",
    "Encoder",
    "EvaluationResult",
    "InvarianceResult",
    "evaluate",
    "feature_averaging",
    "invariance",
]
