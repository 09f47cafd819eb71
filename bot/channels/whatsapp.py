"""WhatsApp through Twilio's Programmable Messaging REST API (the twilio library's client).

Addresses are E.164 phones; Twilio wants ``whatsapp:+55…``. Options become numbered lines
(WhatsApp free text has no buttons), images and documents go as media on our signed links, and
templates as ContentSid + ContentVariables. Free text outside the 24-hour customer-service window
is refused here, before Twilio would refuse it (error 63016) and bill nothing but a failure.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import certifi
import requests
import urllib3
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
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


class TwilioApiHttpClient(HttpClient):
    """The twilio client's HTTP layer (its documented extension point), on urllib3 directly.

    - Every request goes to ``base_url`` instead of ``api.twilio.com`` (a local fake in tests, a
      proxy in some deployments); path and query are kept.
    - The environment's proxy and CA-bundle settings (``HTTPS_PROXY``, ``NO_PROXY``,
      ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) are read once, for the one host this client
      calls, as requests reads them; certifi's bundle otherwise, as requests uses.
    - The request is what twilio's requests-based client sends (form or JSON body, lists as
      repeated fields, ``None`` values left out, basic auth, no redirects followed), without
      requests' per-call machinery (merging settings and hooks, cookie jars, the environment
      walked twice): that was ~6 % of the server's CPU under bench/load.py, a third of a send.
    """

    def __init__(self, base_url: str = TWILIO_API_BASE_URL, timeout: float = 15.0) -> None:
        super().__init__(_twilio_log, False, timeout)
        base = base_url.rstrip("/")
        self._base = urlsplit(base)
        self._rebase = base != TWILIO_API_BASE_URL
        proxies = requests.utils.get_environ_proxies(base)
        self.proxy = proxies.get(self._base.scheme) or proxies.get("all") or None
        ca_bundle = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
        )
        pooling: dict[str, Any] = {
            "maxsize": min(32, (os.cpu_count() or 1) + 4),
            "ca_certs": ca_bundle,
            "cert_reqs": "CERT_REQUIRED",
        }
        self._http: urllib3.PoolManager = (
            urllib3.ProxyManager(self.proxy, **pooling) if self.proxy else urllib3.PoolManager(**pooling)
        )

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is None:
            timeout = self.timeout
        elif timeout <= 0:
            raise ValueError(timeout)
        if self._rebase:
            parts = urlsplit(url)
            url = urlunsplit(
                (self._base.scheme, self._base.netloc, self._base.path + parts.path, parts.query, "")
            )
        if params:
            url += ("&" if urlsplit(url).query else "?") + _form(params)
        send_headers = dict(headers or {})
        body: bytes | None = None
        content_type = send_headers.get("Content-Type")
        if content_type in ("application/json", "application/scim+json"):
            body = json.dumps(data).encode() if data is not None else None
        elif data:
            body = _form(data).encode()
            send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if auth:
            send_headers.update(urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}"))
        self.log_request({"method": method.upper(), "url": url, "params": None, "headers": headers})
        response = self._http.request(
            method.upper(),
            url,
            body=body,
            headers=send_headers,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            # No retries (the outbox retries a send); redirects followed only when asked, as requests.
            retries=urllib3.Retry(total=None, connect=0, read=False, status=0, other=0, redirect=30)
            if allow_redirects
            else False,
        )
        self.log_response(response.status, response)  # type: ignore[arg-type]
        text = response.data.decode(_charset(response.headers.get("Content-Type")), errors="replace")
        self._test_only_last_response = Response(response.status, text, response.headers)
        return self._test_only_last_response


_twilio_log = logging.getLogger("twilio.http_client")


def _form(values: dict[str, object]) -> str:
    """As requests encodes a form: a list gives one field per item, ``None`` gives none."""
    pairs = []
    for key, value in values.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None:
                pairs.append((key, item))
    return urlencode(pairs)


def _charset(content_type: str | None) -> str:
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


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
        except (urllib3.exceptions.HTTPError, TwilioException) as exc:
            raise SendError(f"Twilio indisponível: {exc}", retryable=True, error_code="network") from exc
        return SendResult(provider_message_id=sent.sid, status=str(sent.status or "queued"))
