"""Local stand-ins for the Twilio, Vonage and Plivo REST APIs, and Recado's side of webhooks.

Each fake is a small Starlette app that uvicorn serves on 127.0.0.1 (a free port) in a thread.
It records every request and answers as the real API does — the provider's success body, its
error bodies and codes — unless a test scripted the next answer (429, 500, a slow answer).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from recado.api.carrier_webhooks import router as carrier_webhook_router
from recado.carriers.base import Connector, DeliveryReport, InboundSMS, WebhookRequest

PUBLIC_URL = "https://recado.example.org"

TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "twilio-auth-token"
VONAGE_KEY = "abcd1234"
VONAGE_SECRET = "vonage-api-secret"
VONAGE_SIGNATURE_SECRET = "vonage-signature-secret"
PLIVO_ID = "MAXXXXXXXXXXXXXXXXXX"
PLIVO_TOKEN = "plivo-auth-token"


@dataclass
class ReceivedRequest:
    """One request a fake provider received, as it came over the wire."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]
    json: Any

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        scheme, _, encoded = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        return user, password

    def field(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class ScriptedAnswer:
    status: int
    body: Any  # a JSON value, or text sent as text/html
    delay: float = 0.0


class FakeProvider:
    """A provider API: records requests, answers from a script or like the real service."""

    def __init__(self) -> None:
        self.received: list[ReceivedRequest] = []
        self._script: deque[ScriptedAnswer] = deque()
        self.url = ""
        self.app = Starlette(routes=self.routes())

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def answer_next(self, status: int, body: Any, *, delay: float = 0.0) -> None:
        """Answer the next request with this instead of the usual answer."""
        self._script.append(ScriptedAnswer(status, body, delay))

    def reset(self) -> None:
        self.received.clear()
        self._script.clear()

    @property
    def last(self) -> ReceivedRequest:
        assert self.received, "the provider received no request"
        return self.received[-1]

    async def record(self, request: Request) -> tuple[ReceivedRequest, Response | None]:
        """Store the request; return the scripted answer if a test set one."""
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        form: dict[str, list[str]] = {}
        payload: Any = None
        if content_type.startswith("application/x-www-form-urlencoded"):
            for name, value in parse_qsl(body.decode(), keep_blank_values=True):
                form.setdefault(name, []).append(value)
        elif content_type.startswith("application/json"):
            payload = await request.json()
        received = ReceivedRequest(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            form=form,
            json=payload,
        )
        self.received.append(received)
        if not self._script:
            return received, None
        answer = self._script.popleft()
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if isinstance(answer.body, str):
            return received, Response(answer.body, answer.status, media_type="text/html")
        return received, JSONResponse(answer.body, answer.status)

    @contextlib.contextmanager
    def serving(self) -> Iterator[Self]:
        """Serve the app on a free local port for as long as the block runs."""
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=type(self).__name__, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(timeout=10)


class FakeTwilio(FakeProvider):
    """Programmable Messaging: POST /2010-04-01/Accounts/{AccountSid}/Messages.json."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        super().__init__()

    def routes(self) -> list[Route]:
        return [
            Route(
                "/2010-04-01/Accounts/{account_sid}/Messages.json",
                self.create_message,
                methods=["POST"],
            )
        ]

    @staticmethod
    def error(status: int, code: int, message: str) -> JSONResponse:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return JSONResponse(body, status)

    def authenticated(self, received: ReceivedRequest, request: Request) -> bool:
        """Basic auth with the account's SID and token, on the account's own path."""
        return received.basic_auth == (self.account_sid, self.auth_token) and (
            request.path_params["account_sid"] == self.account_sid
        )

    async def create_message(self, request: Request) -> Response:
        received, scripted = await self.record(request)
        if scripted is not None:
            return scripted
        if not self.authenticated(received, request):
            return self.error(401, 20003, "Authenticate")
        if not received.field("To"):
            return self.error(400, 21604, "A 'To' phone number is required.")
        if not received.field("From") and not received.field("MessagingServiceSid"):
            return self.error(400, 21603, "A 'From' phone number is required.")
        if received.field("Body") is None and not received.field("MediaUrl"):
            return self.error(400, 21602, "Message body is required.")
        sid = f"SM{uuid.uuid4().hex}"
        service = received.field("MessagingServiceSid")
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": received.field("To"),
            "from": received.field("From"),
            "messaging_service_sid": service,
            "body": received.field("Body") or "",
            "status": "accepted" if service else "queued",
            "num_segments": "1",
            "num_media": str(len(received.form.get("MediaUrl", []))),
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return JSONResponse(resource, 201)


class FakeVonage(FakeProvider):
    """SMS API: POST /sms/json, form-encoded; errors are HTTP 200 with a non-zero status."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        super().__init__()

    def routes(self) -> list[Route]:
        return [Route("/sms/json", self.send, methods=["POST"])]

    @staticmethod
    def refused(status: str, text: str) -> JSONResponse:
        return JSONResponse(
            {"message-count": "1", "messages": [{"status": status, "error-text": text}]}
        )

    @staticmethod
    def part_count(text: str, unicode: bool) -> int:
        units = len(text.encode("utf-16-le")) // 2 if unicode else len(text)
        single, multi = (70, 67) if unicode else (160, 153)
        return 1 if units <= single else -(-units // multi)

    async def send(self, request: Request) -> Response:
        received, scripted = await self.record(request)
        if scripted is not None:
            return scripted
        if (received.field("api_key"), received.field("api_secret")) != (
            self.api_key,
            self.api_secret,
        ):
            return self.refused("4", "Bad Credentials")
        for name in ("from", "to", "text"):
            if not received.field(name):
                return self.refused("2", f"Missing {name} param")
        to = received.field("to") or ""
        if not to.isdigit():
            return self.refused("3", "Invalid to param")
        count = self.part_count(received.field("text") or "", received.field("type") == "unicode")
        parts = [
            {
                "to": to,
                "message-id": uuid.uuid4().hex[:16].upper(),
                "status": "0",
                "remaining-balance": "15.53590000",
                "message-price": "0.03330000",
                "network": "23410",
                **(
                    {"client-ref": received.field("client-ref")}
                    if received.field("client-ref")
                    else {}
                ),
            }
            for _ in range(count)
        ]
        return JSONResponse({"message-count": str(count), "messages": parts})


class FakePlivo(FakeProvider):
    """Message API: POST /v1/Account/{auth_id}/Message/, JSON, answered 202."""

    def __init__(self, auth_id: str, auth_token: str) -> None:
        self.auth_id = auth_id
        self.auth_token = auth_token
        super().__init__()

    def routes(self) -> list[Route]:
        return [Route("/v1/Account/{auth_id}/Message/", self.send, methods=["POST"])]

    @staticmethod
    def error(status: int, text: str) -> JSONResponse:
        return JSONResponse({"api_id": str(uuid.uuid4()), "error": text}, status)

    def authenticated(self, received: ReceivedRequest, request: Request) -> bool:
        """Basic auth with the Auth ID and token, on the account's own path."""
        return received.basic_auth == (self.auth_id, self.auth_token) and (
            request.path_params["auth_id"] == self.auth_id
        )

    async def send(self, request: Request) -> Response:
        received, scripted = await self.record(request)
        if scripted is not None:
            return scripted
        if not self.authenticated(received, request):
            return self.error(401, "authentication failed")
        payload = received.json if isinstance(received.json, dict) else {}
        for name in ("src", "dst", "text"):
            if not payload.get(name):
                return self.error(400, f"{name} parameter is missing")
        return JSONResponse(
            {
                "api_id": str(uuid.uuid4()),
                "message": "message(s) queued",
                "message_uuid": [str(uuid.uuid4())],
            },
            202,
        )


@dataclass
class RecordingEvents:
    """Recado's side of a connector: keeps every delivery report and inbound text."""

    reports: list[DeliveryReport] = field(default_factory=list)
    inbound_texts: list[InboundSMS] = field(default_factory=list)

    async def delivery_report(self, report: DeliveryReport) -> None:
        self.reports.append(report)

    async def inbound(self, sms: InboundSMS) -> None:
        self.inbound_texts.append(sms)

    @property
    def nothing(self) -> bool:
        return not self.reports and not self.inbound_texts


def webhook_url(connection: str, kind: str, query: dict[str, str] | None = None) -> str:
    url = f"{PUBLIC_URL}/carriers/{connection}/{kind}"
    return f"{url}?{urlencode(query)}" if query else url


def form_webhook(url: str, params: dict[str, str], headers: dict[str, str]) -> WebhookRequest:
    """A form POST webhook, as the route hands it to a connector."""
    return WebhookRequest(
        method="POST",
        url=url,
        headers={"content-type": "application/x-www-form-urlencoded"}
        | {k.lower(): v for k, v in headers.items()},
        body=urlencode(params).encode(),
        form=dict(params),
        query=dict(parse_qsl(urlsplit(url).query)),
    )


def get_webhook(url: str, headers: dict[str, str] | None = None) -> WebhookRequest:
    """A GET webhook: everything is in the query."""
    return WebhookRequest(
        method="GET",
        url=url,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        body=b"",
        form={},
        query=dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)),
    )


def recado_webhook_app(*connectors: Connector) -> FastAPI:
    """The real `/carriers/{connection}/{kind}` route over a platform holding `connectors`."""

    @dataclass
    class Settings:
        base_url: str = PUBLIC_URL

    @dataclass
    class Platform:
        connectors: dict[str, Connector]
        settings: Settings = field(default_factory=Settings)

    app = FastAPI()
    app.include_router(carrier_webhook_router)
    app.state.platform = Platform({connector.name: connector for connector in connectors})
    return app
