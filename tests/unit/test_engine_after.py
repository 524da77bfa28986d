"""After a release succeeds: the previous version's scale-down and ``rollout undo``, as
tables through ``decide`` (issue #17): undo in the window, after scale-down, during a new
rollout (refused), twice (once); scale-down after the delay, never, refused when shared."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import strategies
from rollout.actions import ScaleDeployment, SetWeights
from rollout.engine import Observed, decide, desired_mesh
from rollout.engine.after import next_look, pair_in_force, subsets_to_see
from rollout.model import RolloutSpec, RolloutStatus, parse_spec
from rollout.model.workloads import Autoscaler, DeploymentView, Versions

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DONE = T0 + timedelta(minutes=5)  # when the release succeeded
MINUTE = timedelta(minutes=1)


def spec(command: dict[str, Any] | None = None, **changes: Any) -> RolloutSpec:
    base: dict[str, Any] = {
        "service": "inventory-service",
        "stableSubset": "v1",
        "canarySubset": "v2",
    }
    if command is not None:
        base["command"] = command
    return parse_spec({**base, **changes})


def undo(id_: str = "u1", to: str | None = None) -> dict[str, Any]:
    return {"name": "undo", "id": id_, "by": "alice via CLI", **({"to": to} if to else {})}


def succeeded(**changes: Any) -> RolloutStatus:
    """A status as the engine leaves a release that succeeded at DONE (scale-down in 10m)."""
    plan = strategies.plan(spec())
    base = RolloutStatus.model_validate(
        {
            "phase": "Succeeded",
            "run": 1,
            "decisions": 5,
            "stableSubset": "v1",
            "canarySubset": "v2",
            "plan": [s.wire() for s in plan],
            "stepIndex": len(plan) - 1,
            "canaryWeight": 100,
            "startedAt": T0,
            "finishedAt": DONE,
            "previous": {"subset": "v1", "scaleDownAt": DONE + 10 * MINUTE},
        }
    )
    return RolloutStatus.model_validate({**base.model_dump(by_alias=True), **changes})


def scaled_down() -> RolloutStatus:
    return succeeded(
        previous={
            "subset": "v1",
            "scaleDownAt": DONE + 10 * MINUTE,
            "scaledDown": True,
            "deployments": [{"name": "inventory-v1", "replicas": 3}],
        }
    )


def v1(replicas: int = 3, ready: bool = True, **more: Any) -> Versions:
    seen = DeploymentView("inventory-v1", replicas, replicas if ready else 0, ready, **more)
    return {"v1": (seen,)}


@dataclass
class Case:
    """One reconcile after success: inputs, then the phase, reasons and scale actions."""

    status: RolloutStatus
    spec: RolloutSpec = field(default_factory=spec)
    now: datetime = DONE + MINUTE
    versions: Versions = field(default_factory=dict)
    mesh_in_sync: bool = True
    phase: str = "Succeeded"
    reasons: tuple[str, ...] = ()
    scale: tuple[ScaleDeployment, ...] = ()


CASES = [
    pytest.param(
        Case(succeeded(), versions=v1()),
        id="inside the delay nothing happens",
    ),
    pytest.param(
        Case(
            succeeded(),
            now=DONE + 10 * MINUTE,
            versions=v1(),
            reasons=("ScaledDown",),
            scale=(ScaleDeployment("inventory-v1", 0),),
        ),
        id="after the delay the old version is recorded and scaled to zero",
    ),
    pytest.param(
        Case(succeeded(), now=DONE + 10 * MINUTE, versions=v1(), mesh_in_sync=False),
        id="scale-down waits while the mesh may still send the old version traffic",
    ),
    pytest.param(
        Case(succeeded(), now=DONE + 10 * MINUTE),
        id="scale-down waits for the Deployments to be seen",
    ),
    pytest.param(
        Case(
            succeeded(),
            now=DONE + 10 * MINUTE,
            versions=v1(shared_with=("subset v2 of inventory-dr",)),
            reasons=("ScaleDownRefused",),
        ),
        id="a Deployment shared with another subset is never scaled down",
    ),
    pytest.param(
        Case(succeeded(previous={"subset": "v1"}), now=DONE + 1000 * MINUTE, versions=v1()),
        id="scaleDown never keeps the old version",
    ),
    pytest.param(
        Case(scaled_down(), now=DONE + 20 * MINUTE, scale=(ScaleDeployment("inventory-v1", 0),)),
        id="a scaled-down version is kept at zero (a crash after the status converges)",
    ),
    pytest.param(
        Case(
            succeeded(),
            spec=spec(undo()),
            versions=v1(),
            phase="Undone",
            reasons=("Undone",),
        ),
        id="undo in the window switches at once",
    ),
    pytest.param(
        Case(
            scaled_down(),
            spec=spec(undo()),
            now=DONE + 20 * MINUTE,
            versions=v1(replicas=0, ready=False),
            phase="Undoing",
            reasons=("Undoing",),
            scale=(ScaleDeployment("inventory-v1", 3),),
        ),
        id="undo after scale-down first scales back to the recorded size",
    ),
    pytest.param(
        Case(
            succeeded(
                undo={
                    "to": "v1",
                    "undone": "v2",
                    "by": "alice via CLI",
                    "restore": [{"name": "inventory-v1", "replicas": 3}],
                    "requestedAt": DONE,
                },
                phase="Undoing",
                handledCommandId="u1",
            ),
            spec=spec(undo()),
            versions=v1(replicas=3, ready=False),
            phase="Undoing",
            scale=(ScaleDeployment("inventory-v1", 3),),
        ),
        id="an undo waits while the Deployments are not ready",
    ),
    pytest.param(
        Case(
            succeeded(
                undo={
                    "to": "v1",
                    "undone": "v2",
                    "by": "alice via CLI",
                    "restore": [{"name": "inventory-v1", "replicas": 3}],
                    "requestedAt": DONE,
                },
                phase="Undoing",
                handledCommandId="u1",
            ),
            spec=spec(undo()),
            versions=v1(replicas=3, ready=True),
            phase="Undone",
            reasons=("Undone",),
        ),
        id="an undo switches once the Deployments are ready",
    ),
    pytest.param(
        Case(
            succeeded(phase="Undone", handledCommandId="u1"),
            spec=spec(undo()),
            versions=v1(),
            phase="Undone",
        ),
        id="the same undo twice is carried out once",
    ),
    pytest.param(
        Case(
            succeeded(
                phase="Undone",
                handledCommandId="u1",
                undo={"to": "v1", "undone": "v2", "requestedAt": DONE},
            ),
            spec=spec(undo("u2")),
            versions=v1(),
            phase="Undone",
            reasons=("UndoRefused",),
        ),
        id="a second undo of an undone release is refused",
    ),
    pytest.param(
        Case(succeeded(), spec=spec(undo(to="v0")), phase="Succeeded", reasons=("UndoRefused",)),
        id="undo --to a version without Deployments is refused",
    ),
    pytest.param(
        Case(
            succeeded(),
            spec=spec(undo(to="v0")),
            versions={"v0": (DeploymentView("inventory-v0", 2, 2, True),)},
            phase="Undone",
            reasons=("Undone",),
        ),
        id="undo --to an older version whose Deployments run",
    ),
    pytest.param(
        Case(
            succeeded(phase="RolledBack", canaryWeight=0),
            spec=spec(undo()),
            versions=v1(),
            phase="RolledBack",
            reasons=("UndoRefused",),
        ),
        id="a rolled-back release has nothing to undo",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_after_success(case: Case) -> None:
    """Each row: the phase, the Events and the Deployment sizes the engine decides."""
    seen = Observed(versions=case.versions, mesh_in_sync=case.mesh_in_sync)
    decision = decide(case.spec, case.status, case.now, seen)
    assert decision.status.phase == case.phase, decision.status.message
    reasons = tuple(e.reason for e in decision.effects if e.kind == "event")
    assert reasons == case.reasons, decision.status.message
    assert tuple(decision.scale) == case.scale


def test_undo_during_a_rollout_is_refused_with_a_message() -> None:
    """An undo while a new rollout runs changes no weight; the message says why, once."""
    plan = strategies.plan(spec())
    status = RolloutStatus(
        phase="Progressing",
        run=2,
        stable_subset="v1",
        canary_subset="v2",
        plan=plan,
        step_index=1,
        canary_weight=plan[1].weight,
        started_at=T0,
        step_started_at=T0,
    )
    first = decide(spec(undo()), status, T0 + MINUTE)
    assert first.status.phase == "Progressing"
    assert first.status.canary_weight == plan[1].weight
    assert "undo refused: a rollout is Progressing" in first.status.message
    assert [e.reason for e in first.effects] == ["UndoRefused"]
    again = decide(spec(undo()), first.status, T0 + 2 * MINUTE)
    assert again.effects == []


def test_undo_tells_the_thread_who_did_it() -> None:
    """The switch is one notification, in the release's run, naming who asked and how."""
    decision = decide(spec(undo()), succeeded(), DONE + MINUTE, Observed(versions=v1()))
    notes = [e for e in decision.effects if e.kind == "notify"]
    assert [n.event for n in notes] == ["undone"]
    assert notes[0].run == 1
    assert notes[0].message.startswith("undone by alice via CLI: v1 serves 100% again")


def test_scale_down_records_sizes_and_autoscaler_bounds() -> None:
    """The status keeps each Deployment's replicas and its HPA's bounds, to come back exactly."""
    hpa = Autoscaler("inventory-v1", 2, 10)
    versions = v1(replicas=4, autoscaler=hpa)
    decision = decide(spec(), succeeded(), DONE + 11 * MINUTE, Observed(versions=versions))
    previous = decision.status.previous
    assert previous is not None
    assert previous.scaled_down
    (record,) = previous.deployments
    assert (record.replicas, record.autoscaler, record.min_replicas, record.max_replicas) == (
        4,
        "inventory-v1",
        2,
        10,
    )
    assert "inventory-v1 4 → 0" in decision.status.message


def test_the_mesh_moves_only_after_the_scale_up_is_ready() -> None:
    """While undoing, the canary keeps 100%; once undone, the pair is (to, undone) at 0%."""
    waiting = decide(
        spec(undo()), scaled_down(), DONE + 20 * MINUTE, Observed(versions=v1(0, False))
    )
    assert waiting.status.phase == "Undoing"
    assert SetWeights(100, drop_unused=True) in desired_mesh(spec(), waiting.status)
    assert pair_in_force(waiting.status) == ("v1", "v2")
    done = decide(spec(undo()), waiting.status, DONE + 21 * MINUTE, Observed(versions=v1()))
    assert done.status.phase == "Undone"
    assert SetWeights(0, drop_unused=True) in desired_mesh(spec(), done.status)
    assert done.status.previous is None  # nothing left to scale down: v1 serves


def test_success_remembers_the_previous_version_and_when_it_goes() -> None:
    """The last step's pass leaves the old stable in the status with its scale-down time."""
    plan = strategies.plan(spec())
    last = len(plan) - 1
    status = RolloutStatus(
        phase="Progressing",
        run=1,
        stable_subset="v1",
        canary_subset="v2",
        plan=plan,
        step_index=last,
        canary_weight=100,
        started_at=T0,
        step_started_at=T0,
    )
    for after, expected in (("10m", T0 + 10 * MINUTE + MINUTE), ("never", None)):
        the_spec = spec(
            afterSuccess={"scaleDown": {"after": after}}, command={"name": "promote", "id": after}
        )
        decision = decide(the_spec, status, T0 + MINUTE)
        assert decision.status.phase == "Succeeded"
        assert decision.status.previous is not None
        assert decision.status.previous.subset == "v1"
        assert decision.status.previous.scale_down_at == expected


def test_when_to_look_again_and_what_to_read() -> None:
    """The controller is woken for a due scale-down and while undoing, and reads only the
    Deployments these rules need."""
    status = succeeded()
    assert next_look(status, DONE) == pytest.approx(600.0)
    assert next_look(status, DONE + 11 * MINUTE) == 1.0
    assert subsets_to_see(spec(), status, DONE) == []
    assert subsets_to_see(spec(), status, DONE + 10 * MINUTE) == ["v1"]
    assert subsets_to_see(spec(undo(to="v0")), status, DONE) == ["v0"]
    assert next_look(scaled_down(), DONE + 20 * MINUTE) is None
    assert next_look(succeeded(phase="Undoing"), DONE) == 2.0


def test_a_new_run_before_the_scale_down_scales_the_old_version_down_at_once() -> None:
    """v1 → v2 succeeded; v2 → v3 starts inside v1's window: v1's window is over (an undo
    would go back to v2), so v1 is scaled down during the new run, v2 is left alone."""
    next_spec = spec(stableSubset="v2", canarySubset="v3")
    started = decide(next_spec, succeeded(), DONE + MINUTE)
    assert started.status.phase == "Progressing"
    carried = started.status.previous
    assert carried is not None
    assert (carried.subset, carried.scale_down_at) == ("v1", DONE + MINUTE)
    assert subsets_to_see(next_spec, started.status, DONE + MINUTE) == ["v1"]
    then = decide(next_spec, started.status, DONE + 2 * MINUTE, Observed(versions=v1()))
    assert then.status.phase == "Progressing"
    assert tuple(then.scale) == (ScaleDeployment("inventory-v1", 0),)
    assert "ScaledDown" in [e.reason for e in then.effects]


@pytest.mark.parametrize(
    ("previous", "next_pair"),
    [
        ({"subset": "v1", "scaleDownAt": DONE + 10 * MINUTE}, ("v2", "v1")),
        ({"subset": "v1"}, ("v2", "v3")),
    ],
    ids=["the new run routes to it", "scaleDown never"],
)
def test_a_new_run_leaves_the_old_version_alone_when_it_should(
    previous: dict[str, Any], next_pair: tuple[str, str]
) -> None:
    """Going back to v1 as the new canary, or a previous kept on purpose: nothing carried."""
    next_spec = spec(stableSubset=next_pair[0], canarySubset=next_pair[1])
    started = decide(next_spec, succeeded(previous=previous), DONE + MINUTE)
    assert started.status.previous is None
    assert started.scale == []
