"""The screenshot renderer of Slack messages escapes what it shows (params come from agents) and
never hides a block it cannot draw."""

from docs.approvals.render_block_kit import message_html
from pivot.compensations.approvals import PendingApproval, approval_digest
from pivot.services.approval_channels.slack_blocks import approval_blocks


def test_a_gate_message_renders_escaped_with_its_buttons() -> None:
    gate = PendingApproval(approval_id="r~s", run_id="r", step_id="s", action="stripe.create_invoice", params={},
                           approvers=["finance"], requested_at=0, deadline=1, shown="<script>x</script> · $1.00 USD")
    gate = gate.model_copy(update={"digest": approval_digest(gate)})
    html = message_html({"blocks": approval_blocks(gate)})
    assert "<script>x" not in html and "&lt;script&gt;x&lt;/script&gt; · $1.00 USD" in html
    assert ">Approve</span>" in html and ">Reject</span>" in html


def test_an_unknown_block_is_named_not_dropped() -> None:
    assert "[image block]" in message_html({"blocks": [{"type": "image"}]})
