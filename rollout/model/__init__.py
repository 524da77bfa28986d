"""The ``Rollout`` custom resource (meshrollout.dev/v1alpha1) as pydantic models.

``RolloutSpec`` is what people write, ``RolloutStatus`` what the controller
remembers. :func:`parse_spec` turns an API dict into a spec or raises
:class:`SpecError` naming each field at fault. The CRD in the chart is generated
from these models by ``python -m rollout.crd``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from rollout.model.analysis import Analysis, CustomCheck, MustCatch
from rollout.model.base import (
    Problem,
    SpecError,
    parse_duration,
    problems_from,
)
from rollout.model.spec import (
    DEFAULT_STEPS,
    AfterSuccess,
    Command,
    CommandName,
    HeaderRoute,
    Notifications,
    OnRegression,
    OutlierDetection,
    Preflight,
    RolloutSpec,
    ScaleDown,
    SecretKeyRef,
    SlackNotifications,
    Strategy,
)
from rollout.model.status import (
    AFTER_SUCCESS_PHASES,
    TERMINAL_PHASES,
    Condition,
    EffectId,
    Evidence,
    HistoryEntry,
    LogLikelihoods,
    MetricVerdict,
    PendingEffect,
    Phase,
    Previous,
    RecordedDeployment,
    RolloutStatus,
    RoutedVirtualService,
    Stage,
    Undo,
    Verdict,
)
from rollout.model.traffic import HttpRouteTarget

GROUP = "meshrollout.dev"
VERSION = "v1alpha1"
KIND = "Rollout"
PLURAL = "rollouts"
SHORT_NAME = "mro"
API_VERSION = f"{GROUP}/{VERSION}"


def parse_spec(data: Any) -> RolloutSpec:
    """Validate a ``spec`` as the API returns it (camelCase dict).

    Raises :class:`SpecError` whose problems name each field as ``spec.<path>``.
    """
    try:
        return RolloutSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(problems_from(error, prefix="spec")) from error


def parse_status(data: Any) -> RolloutStatus:
    """Read a stored ``status``; an empty or missing one is a fresh status."""
    try:
        return RolloutStatus.model_validate(data or {})
    except ValidationError as error:
        raise SpecError(problems_from(error, prefix="status")) from error


__all__ = [
    "AFTER_SUCCESS_PHASES",
    "API_VERSION",
    "DEFAULT_STEPS",
    "GROUP",
    "KIND",
    "PLURAL",
    "SHORT_NAME",
    "TERMINAL_PHASES",
    "VERSION",
    "AfterSuccess",
    "Analysis",
    "Command",
    "CommandName",
    "Condition",
    "CustomCheck",
    "EffectId",
    "Evidence",
    "HeaderRoute",
    "HistoryEntry",
    "HttpRouteTarget",
    "LogLikelihoods",
    "MetricVerdict",
    "MustCatch",
    "Notifications",
    "OnRegression",
    "OutlierDetection",
    "PendingEffect",
    "Phase",
    "Preflight",
    "Previous",
    "Problem",
    "RecordedDeployment",
    "RolloutSpec",
    "RolloutStatus",
    "RoutedVirtualService",
    "ScaleDown",
    "SecretKeyRef",
    "SlackNotifications",
    "SpecError",
    "Stage",
    "Strategy",
    "Undo",
    "Verdict",
    "parse_duration",
    "parse_spec",
    "parse_status",
]
