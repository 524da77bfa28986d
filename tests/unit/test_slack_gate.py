"""The checks of a Slack click before anything acts on it (``notify.interactive.Gate``):
Slack's documented signature example, agreement with slack_sdk's own verifier, the
five-minute window both ways, replays, the allowed-user map, and a click's id that is
the same on every replica."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from rollout.notify.interactive import Gate, Refusal, parse, signature

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_800_000_000


def test_slacks_documented_example() -> None:
    """The example request of Slack's "Verifying requests from Slack" signs as documented."""
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
        b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fweb"
        b"hook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J"
        b"%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a"
        b"0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert signature(SECRET, "1531420618", body) == expected


def click(user: str = "U1", namespace: str = "shop", action: str = "abort") -> bytes:
    payload = {
        "user": {"id": user},
        "actions": [{"action_id": f"meshrollout.{action}", "value": f"{namespace}/inv/uid/4"}],
        "container": {"message_ts": "171.5"},
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def headers(body: bytes, stamp: int = NOW) -> dict[str, str]:
    return {
        "x-slack-request-timestamp": str(stamp),
        "x-slack-signature": signature(SECRET, str(stamp), body),
    }


def test_agrees_with_slack_sdks_verifier() -> None:
    """What we sign, slack_sdk's SignatureVerifier accepts (and the gate passes)."""
    body = click()
    verifier = SignatureVerifier(SECRET, clock=type("C", (), {"now": lambda self: NOW})())
    assert verifier.is_valid_request(body, headers(body))
    assert Gate(SECRET, {"shop": ["U1"]}).check(headers(body), body, NOW).action == "abort"


@pytest.mark.parametrize("skew", [-301, 301])
def test_five_minutes_either_way(skew: int) -> None:
    """A correctly signed request more than 300 s old, or ahead, is refused."""
    body = click()
    with pytest.raises(Refusal, match="timestamp"):
        Gate(SECRET, {"shop": ["U1"]}).check(headers(body, NOW + skew), body, NOW)


def test_a_replay_is_refused_and_a_click_has_one_id_everywhere() -> None:
    """The same request twice: refused the second time. Two replicas (two gates) give
    the same click the same id, so the command written is the same and handled once."""
    body = click()
    first = Gate(SECRET, {"shop": ["U1"]})
    seen = first.check(headers(body), body, NOW)
    with pytest.raises(Refusal, match="replay"):
        first.check(headers(body), body, NOW + 1)
    other = Gate(SECRET, {"shop": ["U1"]}).check(headers(body), body, NOW + 2)
    assert seen.id == other.id
    assert len(seen.id) == 12


def test_the_allowed_user_map() -> None:
    """A user listed for the namespace or under '*' passes; anyone else, or anyone in a
    namespace not listed, is refused; no map at all refuses everyone."""
    gate = Gate(SECRET, {"shop": ["U1"], "*": ["UADMIN"]})
    for user, namespace, allowed in [
        ("U1", "shop", True),
        ("UADMIN", "payments", True),
        ("U1", "payments", False),
        ("U2", "shop", False),
    ]:
        body = click(user, namespace)
        if allowed:
            assert gate.check(headers(body), body, NOW).user == user
        else:
            with pytest.raises(Refusal, match="user"):
                gate.check(headers(body), body, NOW)
    body = click()
    with pytest.raises(Refusal, match="user"):
        Gate(SECRET, {}).check(headers(body), body, NOW)


def test_malformed_or_foreign_requests() -> None:
    """Not our payload: refused as malformed; no signing secret: nothing passes."""
    with pytest.raises(Refusal, match="malformed"):
        parse(b"payload=%7Bnot-json")
    with pytest.raises(Refusal, match="malformed"):
        parse(urlencode({"payload": json.dumps({"actions": [{"value": "a/b"}]})}).encode())
    body = click()
    with pytest.raises(Refusal, match="signature"):
        Gate("", {"shop": ["U1"]}).check(headers(body), body, NOW)


def test_user_groups_and_a_group_that_cannot_be_read() -> None:
    """A member of a listed group passes; a non-member does not; a group whose members
    cannot be read (Slack down) lets nobody through; without a reader, groups match nobody."""
    asked: list[str] = []

    def members(group: str) -> frozenset[str]:
        asked.append(group)
        if group == "S0DOWN":
            raise ConnectionError("slack down")
        return frozenset({"U7"}) if group == "S0OPS" else frozenset()

    gate = Gate(SECRET, {"shop": ["S0DOWN", "S0OPS"]}, members)
    body = click("U7")
    assert gate.check(headers(body), body, NOW).user == "U7"
    assert asked == ["S0DOWN", "S0OPS"]
    for user, reader in (("U8", members), ("U7", None)):
        body = click(user)
        with pytest.raises(Refusal, match="user"):
            Gate(SECRET, {"shop": ["S0OPS"]}, reader).check(headers(body), body, NOW)
    body = click("U7")
    with pytest.raises(Refusal, match="user"):
        Gate(SECRET, {"shop": ["S0DOWN"]}, members).check(headers(body), body, NOW)
