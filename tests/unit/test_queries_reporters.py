"""The default queries' selectors for each data plane: sidecars, version Services, waypoints."""

from __future__ import annotations

from datetime import UTC, datetime

from rollout.analysis.queries import Ask, buckets_query, problem, requests_query

T = datetime(2026, 1, 1, tzinfo=UTC)


def ask(**extra: object) -> Ask:
    return Ask("shop/inventory", "shop", "inventory-service", "v1", "v2", T, 60, **extra)  # type: ignore[arg-type]


def test_sidecars_are_the_default() -> None:
    """reporter destination, the service and its versions: as before."""
    query = requests_query([ask()], T)
    assert 'reporter="destination"' in query
    assert 'destination_service_name="inventory-service"' in query
    assert 'destination_version=~"v1|v2"' in query
    assert "sum by (destination_version)" in query


def test_version_services_are_told_apart_by_service_name() -> None:
    """An HTTPRoute's backends: the pair is two Services, grouped by their name."""
    a = Ask("shop/inventory", "shop", "inventory-service", "inventory-v1", "inventory-v2", T, 60,
            split_by="service")  # fmt: skip
    query = buckets_query([a], T)
    assert 'destination_service_name=~"inventory-v1|inventory-v2"' in query
    assert "destination_version" not in query
    assert "sum by (destination_service_name, le)" in query


def test_waypoints_and_unknown_reporters() -> None:
    """reporter waypoint for ambient mode; anything else is refused, never sent."""
    assert 'reporter="waypoint"' in requests_query([ask(reporter="waypoint")], T)
    assert problem(ask(reporter='source"} or vector(1) #')) is not None
    assert problem(ask(reporter="waypoint")) is None
