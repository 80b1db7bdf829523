"""A one-off check that a carrier connection's settings reach the carrier and are accepted.

`probe(kind, config)` contacts the carrier once, without starting a connector: an SMPP bind
(bind_transceiver, then unbind, written on the wire here) for "smpp", one authenticated GET of the account resource for
the HTTP providers, nothing for the simulator. It answers what it saw in words for a person,
and raises ProbeFailed with the reason when the carrier could not be reached or refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx

from recado.carriers.base import build_connector
from recado.carriers.smpp.connector import SmppConnector, SmppSettings
from recado.carriers.smpp.errors import COMMAND_STATUS

PROBE_SECONDS: Final = 5.0
UNBIND_SECONDS: Final = 2.0


class ProbeFailed(Exception):
    """The carrier could not be reached, or it refused; `detail` says which, readably."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def probe(kind: str, config: dict[str, Any], *, seconds: float = PROBE_SECONDS) -> str:
    """Contact the carrier once; the answer says what worked. Raises ProbeFailed."""
    try:
        connector = build_connector(kind, "connection-test", dict(config))
    except (ValueError, KeyError, TypeError) as error:
        message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        raise ProbeFailed(f"The {kind} config is not usable: {message}") from None
    if kind == "simulator":
        return "The built-in simulator is always reachable."
    if isinstance(connector, SmppConnector):
        return await _probe_smpp(connector, seconds)
    if kind in _ACCOUNT_REQUESTS:
        return await _probe_http(kind, connector, seconds)
    raise ProbeFailed(f"Recado cannot test {kind} connections yet.")


# --- SMPP ----------------------------------------------------------------------------------
# The bind is written on the wire here rather than through smpp34's Client: that client hides
# the command_status of a refused bind (it reports "bind timed out" after its timer), and a
# person fixing a password needs to see ESME_RINVPASWD / ESME_RBINDFAIL.

BIND_TRANSCEIVER: Final = 0x00000009
UNBIND: Final = 0x00000006
RESPONSE: Final = 0x80000000
GENERIC_NACK: Final = 0x80000000
INTERFACE_VERSION: Final = 0x34
MAX_RESPONSE_OCTETS: Final = 4096


def bind_transceiver_pdu(settings: SmppSettings, sequence: int = 1) -> bytes:
    """bind_transceiver as SMPP 3.4 writes it: C-octet strings, then version and address."""

    def c_string(text: str, limit: int) -> bytes:
        return text.encode("latin-1", "replace")[: limit - 1] + b"\0"

    body = (
        c_string(settings.system_id, 16)
        + c_string(settings.password, 9)
        + c_string(settings.system_type, 13)
        + bytes([INTERFACE_VERSION, 0, 0])  # interface_version, addr_ton, addr_npi
        + b"\0"  # address_range
    )
    return struct.pack(">IIII", 16 + len(body), BIND_TRANSCEIVER, 0, sequence) + body


async def _read_pdu(reader: asyncio.StreamReader) -> tuple[int, int, int]:
    """command_id, command_status and sequence of the next PDU (its body is skipped)."""
    length, command, status, sequence = struct.unpack(">IIII", await reader.readexactly(16))
    if not 16 <= length <= MAX_RESPONSE_OCTETS:
        raise ProbeFailed(f"The peer does not speak SMPP (a PDU of {length} octets).")
    await reader.readexactly(length - 16)
    return command, status, sequence


def status_name(status: int) -> str:
    refusal = COMMAND_STATUS.get(status)
    name = refusal.reason.split(":")[0] if refusal else "command status"
    return f"{name} / 0x{status:08X}"


async def _probe_smpp(connector: SmppConnector, seconds: float) -> str:
    settings = connector.settings
    where = f"{settings.host}:{settings.port}"
    timeout = min(seconds, settings.connect_timeout_seconds)
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                settings.host, settings.port, ssl=True if settings.tls else None
            )
            writer.write(bind_transceiver_pdu(settings))
            await writer.drain()
            while True:
                command, status, sequence = await _read_pdu(reader)
                if command in (BIND_TRANSCEIVER | RESPONSE, GENERIC_NACK) and sequence == 1:
                    break  # anything else (an enquire_link) is not the answer
        if status != 0:
            raise ProbeFailed(f"The SMSC refused the bind ({status_name(status)}).")
        if command == GENERIC_NACK:
            raise ProbeFailed("The SMSC answered the bind with generic_nack.")
        with contextlib.suppress(Exception):
            # Some SMSCs (smpp34's among them) close instead of answering unbind.
            async with asyncio.timeout(UNBIND_SECONDS):
                writer.write(struct.pack(">IIII", 16, UNBIND, 0, 2))
                await writer.drain()
                while (await _read_pdu(reader))[0] != UNBIND | RESPONSE:
                    pass
    except TimeoutError:
        raise ProbeFailed(f"Could not reach {where}: no answer in {timeout:g} s") from None
    except asyncio.IncompleteReadError:
        raise ProbeFailed(
            f"The SMSC at {where} closed the connection before answering the bind."
        ) from None
    except OSError as error:
        raise ProbeFailed(f"Could not reach {where}: {_socket_reason(error)}") from None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(UNBIND_SECONDS):
                    await writer.wait_closed()
    return f"Bound to {where} as {settings.system_id} (bind_transceiver), then unbound."


def _socket_reason(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "no such host"
    return error.strerror or str(error) or type(error).__name__


# --- HTTP providers ----------------------------------------------------------------------


def _twilio(connector: Any) -> tuple[str, dict[str, Any]]:
    path = f"/2010-04-01/Accounts/{quote(connector.account_sid, safe='')}.json"
    return connector.base_url + path, {"auth": (connector.account_sid, connector.auth_token)}


def _vonage(connector: Any) -> tuple[str, dict[str, Any]]:
    # Vonage's base_url is the SMS send URL (…/sms/json); the account API is on the same host.
    parts = urlsplit(connector.base_url)
    params = {"api_key": connector.api_key, "api_secret": connector.api_secret}
    return f"{parts.scheme}://{parts.netloc}/account/get-balance", {"params": params}


def _plivo(connector: Any) -> tuple[str, dict[str, Any]]:
    path = f"/v1/Account/{quote(connector.auth_id, safe='')}/"
    return connector.base_url + path, {"auth": (connector.auth_id, connector.auth_token)}


_ACCOUNT_REQUESTS: Final = {"twilio": _twilio, "vonage": _vonage, "plivo": _plivo}


async def _probe_http(kind: str, connector: Any, seconds: float) -> str:
    url, options = _ACCOUNT_REQUESTS[kind](connector)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{parts.hostname}:{port}"
    timeout = min(seconds, connector.timeout)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.get(url, **options)
    except httpx.TimeoutException:
        raise ProbeFailed(f"Could not reach {where}: no answer in {timeout:g} s") from None
    except httpx.ConnectError as error:
        raise ProbeFailed(f"Could not reach {where}: {_connect_reason(error)}") from None
    except httpx.HTTPError as error:
        raise ProbeFailed(f"Could not reach {where}: {error or type(error).__name__}") from None
    if response.status_code in (401, 403):
        raise ProbeFailed(f"The provider refused the credentials (HTTP {response.status_code}).")
    if response.status_code != 200:
        raise ProbeFailed(
            f"The provider answered HTTP {response.status_code} to {parts.path}: "
            f"{_error_text(response)}"
        )
    return f"{kind.capitalize()} accepted the credentials."


def _connect_reason(error: httpx.ConnectError) -> str:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(error)
    if "refused" in text.lower():
        return "connection refused"
    return text or "the connection failed"


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "an unexpected answer"
    if isinstance(body, dict):
        for key in ("message", "error", "error-text", "error_text"):
            if isinstance(body.get(key), str):
                return str(body[key])[:200]
    return response.reason_phrase or "an unexpected answer"
