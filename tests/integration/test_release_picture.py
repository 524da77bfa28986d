"""The picture of a release: drawn for a promotion and a rollback (a PNG that decodes, of
the expected size), posted once in the release's Slack thread through slack_sdk's file
upload to the local receiver, also by a fresh channel after a restart, and the same data
as JSON series in the generic webhook's payload."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image

from rollout.actions import notify
from rollout.analysis.series import Points
from rollout.notify.channels import JsonWebhook, SlackBot
from rollout.notify.messages import Release, release_of
from rollout.notify.picture import SIZE_PX, release_series, render_png
from tests.fakeslack import FakeSlack

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)
TOKEN = "xoxb-0000-SECRET-TOKEN"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def ended(phase: str) -> dict[str, Any]:
    """A run that ended: three promotions then success, or two then a rollback."""
    steps = [(0, 5, "started"), (30, 25, "promoted"), (60, 50, "promoted")]
    if phase == "Succeeded":
        steps += [(90, 100, "promoted"), (120, 100, "succeeded")]
    else:
        steps += [(75, 0, "rolled back")]
    history = [
        {"at": at(t), "run": 1, "stepIndex": 0, "canaryWeight": w, "decision": d, "reason": d}
        for t, w, d in steps
    ]
    return {
        "metadata": {"name": "inventory", "namespace": "shop", "uid": "u-1"},
        "spec": {"service": "inventory-service", "stableSubset": "v1", "canarySubset": "v2"},
        "status": {
            "phase": phase,
            "run": 1,
            "startedAt": at(0),
            "finishedAt": at(steps[-1][0]),
            "canaryWeight": steps[-1][1],
            "history": history,
        },
    }


def metrics(release: Release) -> tuple[dict[str, Points], dict[str, Points]]:
    """Series as the Prometheus provider returns them: a canary that went bad at 60 s."""
    bad = release.phase == "RolledBack"
    errors: dict[str, Points] = {
        "stable": [(float(t), 0.005) for t in range(0, 80, 5)],
        "canary": [(float(t), 0.2 if bad and t >= 60 else 0.006) for t in range(0, 80, 5)],
    }
    p99: dict[str, Points] = {"stable": [(0.0, 80.0), (70.0, 82.0)], "canary": [(0.0, 90.0)]}
    return errors, p99


@pytest.mark.parametrize("phase", ["Succeeded", "RolledBack"])
def test_the_picture_of_a_promotion_and_a_rollback(phase: str) -> None:
    """A PNG that decodes to the expected size; its series say when and why it ended."""
    release = release_of(ended(phase))
    series = release_series(release, metrics(release))
    image = Image.open(io.BytesIO(render_png(release, series)))
    image.load()
    assert image.format == "PNG"
    assert image.size == SIZE_PX
    assert series["decided"]["decision"] == ("succeeded" if phase == "Succeeded" else "rolled back")
    assert series["weight"][-1] == [series["end"], 100.0 if phase == "Succeeded" else 0.0]
    assert len(series["decisions"]) == len(ended(phase)["status"]["history"])
    assert set(series["errorRatio"]) == {"canary", "stable"}


def test_without_metrics_the_picture_still_shows_the_weights() -> None:
    """No Prometheus series: the picture is drawn all the same (weights and decisions)."""
    release = release_of(ended("Succeeded"))
    png = render_png(release, release_series(release, None))
    assert Image.open(io.BytesIO(png)).size == SIZE_PX


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def test_posted_once_per_release_also_after_a_restart(slack: FakeSlack) -> None:
    """The release's end puts one PNG in its thread; the same effect delivered again,
    by this bot or by a new one (a restarted controller), uploads nothing more; the
    events before the end upload nothing."""
    doc = ended("RolledBack")
    release = release_of(doc)
    bot = SlackBot(TOKEN, "C1", slack.api_url, series=metrics)
    promoted = notify(1, 2, "step-promoted", "step 1/3", 25, 1)
    thread = bot.send(release, promoted, None)
    assert thread is not None
    assert slack.uploads == {}
    rolled_back = notify(1, 4, "rolled-back", "regression: error-rate", 0, 2)
    assert bot.send(release, rolled_back, thread) == thread
    assert bot.send(release, rolled_back, thread) == thread
    restarted = SlackBot(TOKEN, "C1", slack.api_url, series=metrics)
    assert restarted.send(release, rolled_back, thread) == thread
    files = slack.files_in(thread)
    assert len(files) == 1
    assert files[0]["filename"] == "shop-inventory-run1.png"
    assert Image.open(io.BytesIO(files[0]["data"])).size == SIZE_PX
    assert TOKEN not in str(slack.posted("/api/files.completeUploadExternal"))


def test_a_broken_provider_does_not_stop_the_picture(slack: FakeSlack) -> None:
    """Prometheus unreachable: the picture goes without its metric series."""

    def broken(release: Release) -> tuple[dict[str, Points], dict[str, Points]]:
        raise ConnectionError("prometheus down")

    bot = SlackBot(TOKEN, "C1", slack.api_url, series=broken)
    release = release_of(ended("Succeeded"))
    thread = bot.send(release, notify(1, 5, "succeeded", "v2 is the new stable", 100, 3), None)
    assert thread is not None
    assert len(slack.files_in(thread)) == 1


def test_the_webhook_carries_the_series(slack: FakeSlack) -> None:
    """The generic webhook's end-of-release payload has the picture's data as JSON;
    the other events do not."""
    hook = JsonWebhook(slack.json_url, series=metrics)
    release = release_of(ended("RolledBack"))
    hook.send(release, notify(1, 2, "step-promoted", "step 1/3", 25, 1), None)
    hook.send(release, notify(1, 4, "rolled-back", "regression", 0, 2), None)
    first, last = slack.posted("/hooks/generic")
    assert "series" not in first
    series = last["series"]
    assert series["decided"]["decision"] == "rolled back"
    assert series["errorRatio"]["canary"][-1] == [75.0, 0.2]
    assert series["weight"][0] == [0.0, 0.0]
