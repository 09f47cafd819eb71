"""WhatsApp through Twilio's Programmable Messaging REST API (the twilio library's client).

Addresses are E.164 phones; Twilio wants ``whatsapp:+55…``. Options become numbered lines
(WhatsApp free text has no buttons), images and documents go as media on our signed links, and
templates as ContentSid + ContentVariables. Free text outside the 24-hour customer-service window
is refused here, before Twilio would refuse it (error 63016) and bill nothing but a failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import requests
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot import numbered_options
from bot.channels.base import MessageKind, OutboundMessage, OutsideSessionWindow, SendError, SendResult
from server.clock import Clock
from server.db import repositories as repo
from server.db.models import Channel

SESSION_WINDOW = timedelta(hours=24)
TWILIO_API_BASE_URL = "https://api.twilio.com"
PREFIX = "whatsapp:"


def to_whatsapp(address: str) -> str:
    return address if address.startswith(PREFIX) else PREFIX + address


def from_whatsapp(value: str) -> str:
    return value.removeprefix(PREFIX)


class TwilioApiHttpClient(TwilioHttpClient):
    """The twilio client's HTTP layer, with two changes.

    - Every request goes to ``base_url`` instead of ``api.twilio.com`` (a local fake in tests, a
      proxy in some deployments); path and query are kept.
    - The environment's proxy and CA-bundle settings (``HTTPS_PROXY``, ``NO_PROXY``,
      ``REQUESTS_CA_BUNDLE``…) are read once, for the one host this client calls. requests read
      them on every request, walking the whole environment twice: ~20 % of a send's CPU.
    """

    def __init__(self, base_url: str = TWILIO_API_BASE_URL, timeout: float = 15.0) -> None:
        super().__init__(timeout=timeout)
        self._base = urlsplit(base_url.rstrip("/"))
        self._rebase = base_url.rstrip("/") != TWILIO_API_BASE_URL
        session = self.session
        assert session is not None  # pool_connections (the default): one kept-alive session
        session.trust_env = False
        self.proxy = requests.utils.get_environ_proxies(base_url) or None
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle:
            session.verify = ca_bundle

    def request(self, method: str, url: str, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def,override]
        if self._rebase:
            parts = urlsplit(url)
            url = urlunsplit(
                (self._base.scheme, self._base.netloc, self._base.path + parts.path, parts.query, "")
            )
        return super().request(method, url, *args, **kwargs)


def twilio_client(account_sid: str, auth_token: str, api_base_url: str | None) -> Client:
    return Client(
        account_sid, auth_token, http_client=TwilioApiHttpClient(api_base_url or TWILIO_API_BASE_URL)
    )


LastInbound = Callable[[str], datetime | None]


def last_inbound_from_db(session_factory: sessionmaker[Session]) -> LastInbound:
    """When the address last wrote to us on WhatsApp (the conversation keeps it)."""

    def last_inbound(address: str) -> datetime | None:
        with session_factory() as session:
            conversation = repo.conversation_by_address(session, Channel.WHATSAPP, address)
            return conversation.last_inbound_at if conversation else None

    return last_inbound


def _retryable(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


class WhatsAppChannel:
    def __init__(
        self,
        client: Client,
        from_number: str,
        last_inbound: LastInbound,
        clock: Clock,
        status_callback_url: str | None = None,
    ) -> None:
        self._client = client
        self._from = to_whatsapp(from_number)
        self._last_inbound = last_inbound
        self._clock = clock
        self._status_callback = status_callback_url

    def within_session_window(self, address: str, last_inbound_at: datetime | None = None) -> bool:
        last = last_inbound_at or self._last_inbound(address)
        return last is not None and self._clock.now() - last < SESSION_WINDOW

    def send(self, address: str, message: OutboundMessage) -> SendResult:
        params: dict[str, object] = {"from_": self._from, "to": to_whatsapp(address)}
        if message.kind == MessageKind.TEMPLATE:
            params["content_sid"] = message.template_id
            params["content_variables"] = json.dumps(message.variables, ensure_ascii=False)
        else:
            if not self.within_session_window(address, message.last_inbound_at):
                raise OutsideSessionWindow()
            if message.kind == MessageKind.OPTIONS:
                params["body"] = numbered_options.render(message.text, message.buttons)
            else:
                params["body"] = message.text
            if message.kind in (MessageKind.IMAGE, MessageKind.DOCUMENT) and message.url:
                params["media_url"] = [message.url]
        if self._status_callback:
            params["status_callback"] = self._status_callback
        try:
            sent = self._client.messages.create(**params)  # type: ignore[arg-type]
        except TwilioRestException as exc:
            code = str(exc.code) if exc.code is not None else str(exc.status)
            raise SendError(
                f"Twilio {exc.status}: {exc.msg}", retryable=_retryable(exc.status), error_code=code
            ) from exc
        except (requests.RequestException, TwilioException) as exc:
            raise SendError(f"Twilio indisponível: {exc}", retryable=True, error_code="network") from exc
        return SendResult(provider_message_id=sent.sid, status=str(sent.status or "queued"))
