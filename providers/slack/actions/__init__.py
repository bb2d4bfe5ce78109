"""The Slack part of the catalog: post_message (noncompensable, with an undo policy for operator
retracts) and update_message (compensable by a conditional restore).

Slack has no idempotency header: a post carries its step key in the message metadata and the
channel (or thread) is scanned for it before a (re)post; an update carries its key and the
previous text in the metadata too. One `KeyedAction` per action, both in `messages`; `history`
finds messages again (by ts, or by the key in their metadata).
"""

from pivot.compensations.actions import Action
from pivot.providers.slack.actions.messages import PostMessage, PostMessageParams, UpdateMessage, UpdateMessageParams
from pivot.providers.slack.client import SlackClient

__all__ = ["PostMessage", "PostMessageParams", "UpdateMessage", "UpdateMessageParams", "slack_actions"]


def slack_actions(client: SlackClient) -> list[Action]:
    return [PostMessage(client).action(), UpdateMessage(client).action()]
