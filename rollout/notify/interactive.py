"""Slack's interactive buttons on a release's thread head: the buttons, and the checks of
a click before anything acts on it (``slack.interactive.enabled``, off by default).

A click is Slack POSTing ``payload=<JSON>`` to the controller, signed with the app's
signing secret: ``X-Slack-Signature`` is ``v0=`` HMAC-SHA256 of ``v0:<timestamp>:<body>``
(Slack's "Verifying requests from Slack"). :class:`Gate` refuses, and names why, a
request whose signature is wrong, whose ``X-Slack-Request-Timestamp`` is more than five
minutes away, that was seen before (a replay), that is not a button of ours, or whose
user is not allowed in the rollout's namespace by the chart's map (Slack user IDs, or
user group IDs ``S…`` whose members :class:`GroupMembers` asks Slack for; ``*`` for
every namespace). The button carries the rollout's uid and run, so a click on
an old release's message does not act on a newer one (the controller checks that).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

from slack_sdk import WebClient

from rollout.notify.messages import Release, esc

MAX_AGE_S = 300
"""Slack's advice: a request more than five minutes old (or ahead) is refused."""
ACTIONS = {"pause": "Pause", "promote": "Promote", "abort": "Abort"}
CONFIRM = {
    "promote": "Skip the rest of this step's analysis?",
    "abort": "Roll back now: send 100% of traffic to stable?",
}


def buttons(release: Release, run: int) -> dict[str, Any]:
    """The thread head's actions block: Pause, Promote, Abort (the last two confirmed)."""
    value = f"{release.namespace}/{release.name}/{release.uid}/{run}"
    elements = []
    for action, label in ACTIONS.items():
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"meshrollout.{action}",
            "text": {"type": "plain_text", "text": label},
            "value": value,
        }
        if action in CONFIRM:
            button["style"] = "danger" if action == "abort" else "primary"
            button["confirm"] = {
                "title": {"type": "plain_text", "text": f"{label} {release.name}?"},
                "text": {"type": "plain_text", "text": CONFIRM[action]},
                "confirm": {"type": "plain_text", "text": label},
                "deny": {"type": "plain_text", "text": "Cancel"},
            }
        elements.append(button)
    return {"type": "actions", "block_id": "meshrollout.commands", "elements": elements}


@dataclass(frozen=True)
class Click:
    """One press of one of our buttons, as Slack described it."""

    user: str
    action: str
    namespace: str
    name: str
    uid: str
    run: int
    thread_ts: str
    response_url: str
    id: str = ""
    """From the request's signature: the same click always has the same id."""

    def reply(self) -> str:
        """What the thread is told: who did what (mrkdwn, names escaped)."""
        where = f"{esc(self.namespace)}/{esc(self.name)}"
        return f"<@{esc(self.user)}> asked to {self.action} {where} (run {self.run})"


class Refusal(Exception):
    """Why a request is refused: a short reason, also the counter's label."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Slack-Signature`` for this body at this time."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def parse(body: bytes) -> Click:
    """Our button's click from the form body; :class:`Refusal` for anything else."""
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][-1])
        action = payload["actions"][0]
        kind = str(action["action_id"]).removeprefix("meshrollout.")
        namespace, name, uid, run = str(action["value"]).split("/")
        message = payload.get("message") or {}
        container = payload.get("container") or {}
        return Click(
            user=str(payload["user"]["id"]),
            action=kind,
            namespace=namespace,
            name=name,
            uid=uid,
            run=int(run),
            thread_ts=str(message.get("ts") or container.get("message_ts") or ""),
            response_url=str(payload.get("response_url") or ""),
        )
    except (KeyError, IndexError, ValueError, TypeError, UnicodeDecodeError):
        raise Refusal("malformed") from None


class GroupMembers:
    """The members of a Slack user group (``usergroups.users.list``, scope
    ``usergroups:read``), kept for ``ttl_s``: a click costs at most one request per group."""

    def __init__(
        self,
        token: str,
        base_url: str = "https://slack.com/api/",
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = WebClient(token=token, base_url=base_url, timeout=5)
        self.ttl_s, self.clock = ttl_s, clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def __call__(self, group: str) -> frozenset[str]:
        cached = self._cache.get(group)
        if cached is not None and self.clock() - cached[0] < self.ttl_s:
            return cached[1]
        answer = self.client.usergroups_users_list(usergroup=group)
        members = frozenset(str(u) for u in answer.get("users") or [])
        self._cache[group] = (self.clock(), members)
        return members


def is_group(entry: str) -> bool:
    """A user group's ID (``S0614TZR7``) rather than a user's (``U…``, ``W…``)."""
    return entry.startswith("S")


class Gate:
    """Everything a click must pass before the controller acts on it."""

    def __init__(
        self,
        signing_secret: str,
        allowed: dict[str, list[str]],
        members: Callable[[str], frozenset[str]] | None = None,
    ) -> None:
        self.secret = signing_secret
        self.allowed = {ns: set(users) for ns, users in allowed.items()}
        self.members = members
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, headers: dict[str, str], body: bytes, now: float) -> Click:
        """The click, if every check passes; :class:`Refusal` naming the first that fails."""
        stamp = headers.get("x-slack-request-timestamp", "")
        given = headers.get("x-slack-signature", "")
        try:
            age = abs(now - int(stamp))
        except ValueError:
            raise Refusal("timestamp") from None
        if not self.secret or not hmac.compare_digest(given, signature(self.secret, stamp, body)):
            raise Refusal("signature")
        if age > MAX_AGE_S:
            raise Refusal("timestamp")
        self._remember(given, now)
        click = replace(parse(body), id=hashlib.sha256(given.encode()).hexdigest()[:12])
        if click.action not in ACTIONS:
            raise Refusal("action")
        if not self._allowed(click):
            raise Refusal("user")
        return click

    def _allowed(self, click: Click) -> bool:
        """Listed for the namespace (or ``*``), itself or through a group; a group that
        cannot be read right now lets nobody through (closed, not open)."""
        entries = self.allowed.get(click.namespace, set()) | self.allowed.get("*", set())
        if click.user in entries:
            return True
        for group in sorted(e for e in entries if is_group(e)):
            if self.members is None:
                continue
            try:
                if click.user in self.members(group):
                    return True
            except Exception:  # noqa: BLE001 Slack unreachable or the token refused: closed
                continue
        return False

    def _remember(self, given: str, now: float) -> None:
        """A signature is good once: the same request again is a replay."""
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - 2 * MAX_AGE_S:
                self._seen.popitem(last=False)
            if given in self._seen:
                raise Refusal("replay")
            self._seen[given] = now
