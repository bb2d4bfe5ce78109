"""The Slack part of the catalog: post_message (noncompensable, with an undo policy for operator
retracts) and update_message (compensable by a conditional restore).

Slack has no idempotency header: a post carries its step key in the message metadata and the
channel (or thread) is scanned for it before a (re)post; an update carries its key and the
previous text in the metadata too.
"""

from datetime import timedelta

from pivot.compensations.actions import Action, RetryBudget
from pivot.compensations.kinds import StepKind
from pivot.providers.slack.actions.post import PostActions, PostMessageParams
from pivot.providers.slack.actions.update import UpdateActions, UpdateMessageParams
from pivot.providers.slack.client import SlackClient

__all__ = ["PostMessageParams", "UpdateMessageParams", "slack_actions"]


def slack_actions(client: SlackClient) -> list[Action]:
    posts, updates = PostActions(client), UpdateActions(client)
    window = client.http.in_flight_window
    return [
        Action(
            name="slack.post_message",
            kind=StepKind.NONCOMPENSABLE,
            params=PostMessageParams,
            forward=posts.post_message,
            compensate=posts.undo_post,
            key_carrier="message metadata event_payload.pivot_key; channel history (or the thread's replies) "
            "scanned before a (re)post",
            readback="conversations.history (conversations.replies in a thread) at the message ts: text and key",
            compensation="none by the engine (people may have read it; it runs after the pivot); an operator's "
            "retract follows the plan's on_undo: 'none' leaves it, 'correct' posts a threaded correction keyed "
            "by the compensation key, 'delete' uses chat.delete",
            describe=lambda r: f"Slack message {r['ts']} was posted in {r['channel']}",
            describe_undo=lambda r: f"Slack message {r['ts']} was retracted",
            not_run="No Slack message was sent",
            in_flight_window=window,
            fenced=True,  # no idempotency key at Slack: a retry waits out an earlier post's window
            retry=RetryBudget(max_attempts=8),
        ),
        Action(
            name="slack.update_message",
            kind=StepKind.COMPENSABLE,
            params=UpdateMessageParams,
            forward=updates.update_message,
            compensate=updates.restore_message,
            key_carrier="message metadata event_payload.pivot_update_key with the previous text "
            "(pivot_update_before), written by the same chat.update and read before writing",
            readback="conversations.history (or replies) at the message ts: text and the stamp's key",
            compensation="restore the previous text only while the message still shows the saga's text; "
            "edited or deleted by someone else: CompensationConflict, nothing written",
            describe=lambda r: f"Slack message {r['ts']} in {r['channel']} was edited",
            describe_undo=lambda r: f"Slack message {r['ts']} was restored",
            not_run="No Slack message was edited",
            in_flight_window=window,
            retry=RetryBudget(max_attempts=8, max_interval=timedelta(seconds=10)),
        ),
    ]
