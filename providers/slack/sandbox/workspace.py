"""The sandbox workspace's people: who may click a button, who may receive an ephemeral message.

Approvals in Slack hinge on *who* clicked, so the sandbox has members, not just a bot. Three people
are seeded, all members of every seeded channel (#general, C024BE91L):

| id           | name (handle)  | real name     | meant as                                  |
|--------------|----------------|---------------|-------------------------------------------|
| `U07FINLEAD` | `finance.lead` | Farah Nasser  | an approver (e.g. the `finance` approver) |
| `U07OPSLEAD` | `ops.lead`     | Omar Lindqvist| a second approver                         |
| `U07SOMEONE` | `someone.else` | Sam Okafor    | a workspace member who is no approver     |

`POST /_sandbox/users {"name": "dana", "id"?: "U…", "real_name"?: "…", "email"?: "…",
"channels"?: ["C024BE91L"]}` adds one (201, the `users.info` view); `channels` defaults to every
channel, and `[]` makes a member of no channel (Slack's `user_not_in_channel` for them). `GET
/_sandbox/users` lists them. A reset restores the seeded three.

Ids look like Slack's (`U` and nine uppercase letters or digits); the bot user (`U07PIVOTBT`) is not
a member here: it posts, it does not click.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pivot.providers.sandbox_kit import read_json_object

DEFAULT_USERS: tuple[tuple[str, str, str], ...] = (
    ("U07FINLEAD", "finance.lead", "Farah Nasser"),
    ("U07OPSLEAD", "ops.lead", "Omar Lindqvist"),
    ("U07SOMEONE", "someone.else", "Sam Okafor"),
)
"""(id, handle, real name) of the seeded members."""

EMAIL_DOMAIN = "pivot-sandbox.example"
USER_UPDATED = 1_700_000_000
USER_COLOR = "9f69e7"
USER_ID_PATTERN = r"^[UW][A-Z0-9]{8,10}$"


@dataclass(frozen=True)
class SlackUser:
    """One member of the sandbox workspace."""

    id: str
    name: str
    real_name: str
    email: str
    team_id: str

    def summary(self) -> dict[str, str]:
        """The `user` object of an interaction payload: id, username, name, team_id."""
        return {"id": self.id, "username": self.name, "name": self.name, "team_id": self.team_id}

    def info(self) -> dict[str, Any]:
        """The `user` object `users.info` answers (Slack's `objs_user`, the fields a workspace member has)."""
        avatar = f"https://secure.gravatar.com/avatar/{self.id.lower()}.jpg"
        first, _, last = self.real_name.partition(" ")
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": False,
            "color": USER_COLOR,
            "real_name": self.real_name,
            "tz": "Europe/London",
            "tz_label": "Greenwich Mean Time",
            "tz_offset": 0,
            "profile": {
                "title": "",
                "phone": "",
                "skype": "",
                "avatar_hash": self.id.lower()[:12],
                "real_name": self.real_name,
                "real_name_normalized": self.real_name,
                "display_name": self.name,
                "display_name_normalized": self.name,
                "first_name": first,
                "last_name": last,
                "email": self.email,
                "fields": {},
                "status_text": "",
                "status_emoji": "",
                "status_expiration": 0,
                "team": self.team_id,
                **{f"image_{size}": avatar for size in (24, 32, 48, 72, 192, 512)},
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": False,
            "is_app_user": False,
            "updated": USER_UPDATED,
        }


class NewUser(BaseModel):
    """The body of `POST /_sandbox/users`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    id: str | None = Field(default=None, pattern=USER_ID_PATTERN)
    real_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    channels: list[str] | None = None
    """Channel ids to join; None: every channel."""


@dataclass
class Workspace:
    """Members and channel membership of one sandbox instance (part of its resettable state)."""

    team_id: str
    channel_ids: list[str]
    users: dict[str, SlackUser] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    """channel id -> the ids of its members."""

    @classmethod
    def seeded(cls, team_id: str, channel_ids: list[str]) -> Workspace:
        workspace = cls(team_id=team_id, channel_ids=list(channel_ids),
                        members={channel: set() for channel in channel_ids})
        for user_id, name, real_name in DEFAULT_USERS:
            workspace.add(SlackUser(user_id, name, real_name, f"{name}@{EMAIL_DOMAIN}", team_id), channel_ids)
        return workspace

    def add(self, user: SlackUser, channels: list[str]) -> None:
        self.users[user.id] = user
        for channel in channels:
            self.members.setdefault(channel, set()).add(user.id)

    def create(self, spec: NewUser) -> SlackUser:
        """Add the member `spec` describes; ValueError for a taken id or an unknown channel."""
        channels = list(self.channel_ids) if spec.channels is None else spec.channels
        unknown = [channel for channel in channels if channel not in self.members]
        if unknown:
            raise ValueError(f"no such channel: {', '.join(unknown)}")
        user_id = spec.id or self._new_id()
        if user_id in self.users:
            raise ValueError(f"user {user_id} exists")
        user = SlackUser(user_id, spec.name, spec.real_name or spec.name, spec.email or f"{spec.name}@{EMAIL_DOMAIN}",
                         self.team_id)
        self.add(user, channels)
        return user

    def in_channel(self, user_id: str, channel: str) -> bool:
        return user_id in self.members.get(channel, set())

    def _new_id(self) -> str:
        alphabet = string.ascii_uppercase + string.digits
        while True:
            candidate = "U" + "".join(secrets.choice(alphabet) for _ in range(9))
            if candidate not in self.users:
                return candidate


def workspace_routes(current: Callable[[], Workspace]) -> list[BaseRoute]:
    """`/_sandbox/users`: add a member, list them. `current` returns the live workspace (a reset replaces it)."""

    async def add_user(request: Request) -> Response:
        try:
            spec = NewUser.model_validate(await read_json_object(request))
            user = current().create(spec)
        except ValidationError as invalid:
            return JSONResponse({"error": "invalid_user", "detail": invalid.errors(include_url=False,
                                                                                   include_context=False)},
                                status_code=400)
        except ValueError as refused:
            return JSONResponse({"error": "invalid_user", "detail": str(refused)}, status_code=400)
        return JSONResponse(user.info(), status_code=201)

    async def list_users(request: Request) -> Response:
        workspace = current()
        return JSONResponse({"users": [
            {**user.summary(), "real_name": user.real_name,
             "channels": sorted(channel for channel, members in workspace.members.items() if user.id in members)}
            for user in workspace.users.values()]})

    return [Route("/_sandbox/users", add_user, methods=["POST"]),
            Route("/_sandbox/users", list_users, methods=["GET"])]
