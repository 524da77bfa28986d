"""The decision core: what happens at a step. Pure: no I/O, no clock, no logging.

``decide(spec, status, now, observed)`` returns the next status and the actions
that make the world match it (:class:`Decision`); the reconciler calls it once
per reconcile with what it saw (:class:`Observed`). The modules:

* ``rules``: the rules a rollout follows (start, commands, pause, drift, the step's clock);
* ``outcomes``: what a verdict does (advance, hold, give up, roll back);
* ``turn``: one call's working state and the effects of its transitions;
* ``after``: after success (the previous version's scale-down, ``rollout undo``);
* ``mesh_state``: the mesh a status asks for (``desired_mesh``);
* ``run_spec``: which spec a run follows (``spec_in_force``);
* ``preflight``: how strict the mTLS preflight is and what blocks a start;
* ``status``: the bounded history and the conditions kept beside the decisions;
* ``types``: ``Observed`` and ``Decision``.
"""

from rollout.engine.mesh_state import desired_mesh
from rollout.engine.rules import NOTHING_NEW, decide, invalid, starting
from rollout.engine.run_spec import spec_in_force
from rollout.engine.types import MESH_ACTIONS, Decision, Observed

__all__ = [
    "MESH_ACTIONS",
    "NOTHING_NEW",
    "Decision",
    "Observed",
    "decide",
    "desired_mesh",
    "invalid",
    "spec_in_force",
    "starting",
]
