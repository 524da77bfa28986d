"""How a Rollout names the traffic it moves: several VirtualServices, or an HTTPRoute.

Fields of ``RolloutSpec`` (``rollout.model.spec``) and the checks that keep them to one
way of naming the traffic; kept apart so the spec stays readable (issue #18).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from rollout.model.base import CamelModel, DnsSubdomain, field_error


class HttpRouteTarget(CamelModel):
    """The Gateway API instead of VirtualServices: an HTTPRoute (parent: the service's
    Service, or a Gateway) whose backendRefs are one Service per version. The canary's
    outlier detection is tightened with a DestinationRule for its Service's host."""

    name: DnsSubdomain = Field(description="The HTTPRoute (gateway.networking.k8s.io/v1).")
    stable_service: DnsSubdomain = Field(description="The stable version's Service.")
    canary_service: DnsSubdomain = Field(description="The canary version's Service.")
    reporter: Literal["destination", "waypoint"] = Field(
        default="destination",
        description="Whose metrics judge it: destination (sidecars) or waypoint (ambient "
        "mode with a waypoint).",
    )

    @field_validator("canary_service")
    @classmethod
    def _two_services(cls, canary: str, info: ValidationInfo) -> str:
        if canary == info.data.get("stable_service"):
            raise ValueError(f"is {canary!r}, the same as stableService")
        return canary


def one_way_to_name(names: list[str], single: str | None) -> list[str]:
    """``virtualServices`` alone (not with ``virtualService``), each name once."""
    if names and single:
        raise ValueError("name the VirtualServices here or in virtualService, not both")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise field_error(f"[{i}]", f"VirtualService {name!r} is listed twice")
        seen.add(name)
    return names


def one_traffic_api(route: HttpRouteTarget | None, data: dict[str, Any]) -> HttpRouteTarget | None:
    """An HTTPRoute or VirtualServices, never both."""
    if route is not None and (data.get("virtual_service") or data.get("virtual_services")):
        raise ValueError("an HTTPRoute or VirtualServices, not both")
    return route


def one_way(value: Any, field: str | None, data: dict[str, Any]) -> Any:
    """The check of ``field`` (``virtual_services`` or ``http_route``) against the others."""
    if field == "virtual_services":
        return one_way_to_name(value, data.get("virtual_service"))
    return one_traffic_api(value, data)
