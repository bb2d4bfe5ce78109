"""The Resend part of the catalog: `send_email` (noncompensable: deferred to commit, placed last) and
`send_correction` (the seed's semantic compensation for an email, as an explicit follow-up action)."""

from pivot.compensations.actions import Action
from pivot.providers.resend.actions.emails import SendCorrection, SendCorrectionParams, SendEmail, SendEmailParams
from pivot.providers.resend.client import ResendClient

__all__ = ["SendCorrection", "SendCorrectionParams", "SendEmail", "SendEmailParams", "resend_actions"]


def resend_actions(client: ResendClient) -> list[Action]:
    return [SendEmail(client).action(), SendCorrection(client).action()]
