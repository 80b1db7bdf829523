"""Who is signed in to the web UI: a signed session cookie, its CSRF token, and flash notices.

The cookie holds only the user's id, the CSRF token and one-shot notices, signed with a key
kept in the data directory (created on first use). The user's role is read from the database
on every request, so a role change or a deleted user takes effect at once; the services'
permission checks stay the source of truth.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from recado.api.deps import get_platform, get_session
from recado.db.tables import User, Workspace
from recado.domain.roles import Permission, Role, allows
from recado.services.actor import Actor
from recado.settings import Settings

COOKIE = "recado_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_AGE_SECONDS = 12 * 3600  # a working day; then sign in again
_SALT = "recado.web.session"


class SignInRequired(Exception):
    """The page needs a signed-in user; the UI answers with the sign-in page."""


class CsrfRejected(Exception):
    """A form arrived without this session's token: it may come from another site."""


@dataclass
class WebSession:
    user_id: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    notices: list[tuple[str, str]] = field(default_factory=list)
    changed: bool = False

    def sign_in(self, user_id: str) -> None:
        # A new token at sign-in: one seen before it (on a shared machine) is worth nothing.
        self.user_id = user_id
        self.csrf = secrets.token_urlsafe(32)
        self.changed = True

    def sign_out(self) -> None:
        self.user_id = None
        self.csrf = secrets.token_urlsafe(32)
        self.notices = []
        self.changed = True

    def notify(self, text: str, kind: str = "success") -> None:
        """A notice shown once, on the next page (after a redirect)."""
        self.notices.append((kind, text))
        self.changed = True

    def take_notices(self) -> list[tuple[str, str]]:
        notices, self.notices = self.notices, []
        if notices:
            self.changed = True
        return notices

    def csrf_matches(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())


class SessionCookie:
    """Reads and writes the signed cookie."""

    def __init__(self, secret: str, *, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self._secure = secure

    def load(self, request: Request) -> WebSession:
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data: dict[str, Any] = self._serializer.loads(raw, max_age=MAX_AGE_SECONDS)
                return WebSession(
                    user_id=data.get("u"),
                    csrf=str(data["c"]),
                    notices=[(str(k), str(t)) for k, t in data.get("n", [])],
                )
            except (BadSignature, KeyError, TypeError, ValueError):
                pass
        return WebSession(changed=True)  # a fresh session: its CSRF token must reach the browser

    def save(self, session: WebSession, response: Response) -> None:
        value = self._serializer.dumps(
            {"u": session.user_id, "c": session.csrf, "n": session.notices}
        )
        response.set_cookie(
            COOKIE,
            value,
            max_age=MAX_AGE_SECONDS,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )


def session_secret(settings: Settings) -> str:
    """The signing key: RECADO_SESSION_SECRET when set (several servers share it), else
    one made once and kept in the data directory, so sessions survive a restart."""
    if settings.session_secret:
        return settings.session_secret
    path = Path(settings.data_dir) / "web-session.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked in place: a worker starting alongside never reads half a key.
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".web-session-")
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):  # another worker was first: keep its key
            os.link(draft, path)
        os.unlink(draft)
    return path.read_text().strip()


def web_session(request: Request) -> WebSession:
    found: WebSession = request.state.web_session
    return found


@dataclass(frozen=True)
class SignedIn:
    """The signed-in person, their workspace, and the Actor that services check."""

    actor: Actor
    email: str
    workspace_name: str

    @property
    def role(self) -> Role:
        return self.actor.role

    def may(self, permission: str) -> bool:
        return allows(self.actor.role, Permission(permission))


async def signed_in(
    request: Request, session: Annotated[AsyncSession, Depends(get_session)]
) -> SignedIn:
    state = web_session(request)
    if not state.user_id:
        raise SignInRequired()
    user = await session.get(User, state.user_id)
    if user is None:
        state.sign_out()
        raise SignInRequired()
    workspace = await session.get(Workspace, user.workspace_id)
    assert workspace is not None
    person = SignedIn(
        actor=Actor(workspace_id=user.workspace_id, role=Role(user.role), user_id=user.id),
        email=user.email,
        workspace_name=workspace.name,
    )
    request.state.signed_in = person
    return person


CurrentUser = Annotated[SignedIn, Depends(signed_in)]
DbSession = Annotated[AsyncSession, Depends(get_session)]


def cookie_for(request: Request) -> SessionCookie:
    cookie: SessionCookie | None = getattr(request.app.state, "web_cookie", None)
    if cookie is None:
        settings = get_platform(request).settings
        cookie = SessionCookie(
            session_secret(settings), secure=settings.base_url.startswith("https://")
        )
        request.app.state.web_cookie = cookie
    return cookie
