"""The email link's codec: a signed capability for one gate, one approver, until the gate's deadline.

Unit tests of services/approval_channels/email_link.py (no stack): an authentic link opens, an expired
one says so, and any change — to a field, to the signature, a link cut short, another approver's token —
gets one and the same refusal, which never says which part was wrong."""

import hmac
from urllib.parse import quote

import pytest

from pivot.compensations.approvals import decision_proof, read_proof
from pivot.services.approval_channels.email_link import (
    NOT_VALID,
    EmailLink,
    LinkRefused,
    check_link,
    claimed_approver,
    link_signature,
    make_link,
)

TOKENS = {"finance": "finance-secret-token", "ops": "ops-secret-token"}
PAGE = "https://approvals.example.com"
LINK = EmailLink(approval_id="run-1~invoice", approver="finance", digest="ab" * 32, expires=2_000_000_000)
NOW = 1_900_000_000.0


def made() -> str:
    return make_link(PAGE, TOKENS["finance"], LINK)


def test_a_link_is_the_page_with_the_gate_in_its_fragment() -> None:
    link = made()
    page, _, fragment = link.partition("#")
    assert page == f"{PAGE}/" and fragment.startswith("approval=run-1~invoice&approver=finance&")
    assert "expires=2000000000" in fragment and TOKENS["finance"] not in link


@pytest.mark.parametrize("given", ["whole URL", "fragment"])
def test_an_authentic_link_opens_its_gate(given: str) -> None:
    link = made()
    assert check_link(link if given == "whole URL" else link.partition("#")[2], TOKENS, NOW) == LINK
    assert claimed_approver(link) == "finance"


def test_an_expired_link_says_so() -> None:
    with pytest.raises(LinkRefused) as refused:
        check_link(made(), TOKENS, float(LINK.expires))
    assert (refused.value.code, refused.value.status) == ("link_expired", 410)
    assert "expired with its approval at 2033-05-18 03:33 UTC" in refused.value.message


def _changed(name: str, value: str) -> str:
    page, _, fragment = made().partition("#")
    fields = dict(pair.split("=", 1) for pair in fragment.split("&"))
    fields[name] = value
    return page + "#" + "&".join(f"{k}={v}" for k, v in fields.items())


TAMPERED = {
    "another approval": _changed("approval", quote("run-2~invoice", safe="~")),
    "another approver": _changed("approver", "ops"),
    "another digest": _changed("digest", "cd" * 32),
    "a later expiry": _changed("expires", str(LINK.expires + 86_400)),
    "another signature": _changed("sig", "00" * 32),
    "cut short": made()[:-10],
    "a field added": made() + "&approved=true",
    "a field twice": made() + "&approver=ops",
    "not a link": "https://approvals.example.com/#approval=",
    "an unknown approver": _changed("approver", "mallory"),
    "signed with ops's token": make_link(PAGE, TOKENS["ops"], LINK),
    "too long": made() + "x" * 2000,
}


@pytest.mark.parametrize("how", list(TAMPERED))
def test_a_changed_link_is_refused_without_saying_which_part(how: str) -> None:
    with pytest.raises(LinkRefused) as refused:
        check_link(TAMPERED[how], TOKENS, NOW)
    assert (refused.value.code, refused.value.status, refused.value.message) == ("link_refused", 403, NOT_VALID)


def test_a_tampered_expired_link_is_refused_not_told_it_expired() -> None:
    """Only an authentic link learns that it expired: a forged one learns nothing."""
    with pytest.raises(LinkRefused) as refused:
        check_link(_changed("digest", "cd" * 32), TOKENS, float(LINK.expires + 1))
    assert refused.value.code == "link_refused"


def test_a_links_signature_is_no_other_proof() -> None:
    """Its own context string: a link's signature is never a decision or read proof, nor the reverse."""
    signature = link_signature(TOKENS["finance"], LINK)
    others = [decision_proof(TOKENS["finance"], LINK.approval_id, "finance", True, digest=LINK.digest,
                             channel="email"),
              read_proof(TOKENS["finance"], "finance", LINK.expires)]
    assert not any(hmac.compare_digest(signature, other) for other in others)
