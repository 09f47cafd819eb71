"""Inbound attachments (receipts, PDFs, voice notes): downloaded in the turn, stored on disk.

The webhook only records what the provider announced (``Message.media``: WhatsApp's media URL or
Telegram's file id, and the declared content type); the turn downloads each file, so the webhook's
acknowledgement never waits on a download. Each entry of ``Message.media`` then says what
happened: ``stored`` (with path relative to the media directory, content type, size, sha256),
``refused`` (a type outside the allow-list, or over the size limit) or ``failed`` (the provider
did not give us the file). Failures are recorded, never raised: the debtor is still answered.

Twilio's media URLs need the account's basic auth; they are fetched only from Twilio's own hosts
(rebased onto ``NEGOCIA_TWILIO_API_BASE_URL`` when that points elsewhere, e.g. the tests' fake).
Telegram files are fetched with getFile and then from the Bot API's file URL.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from server.db.models import Channel

log = logging.getLogger(__name__)

STORED = "stored"
REFUSED = "refused"
FAILED = "failed"

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# What a debtor sends about a debt: pictures of receipts, PDFs (boletos, comprovantes), voice notes.
# SVG is an image that can carry script, so it is not among them.
ALLOWED_PREFIXES = ("image/", "audio/")
ALLOWED_TYPES = frozenset({"application/pdf"})
REFUSED_TYPES = frozenset({"image/svg+xml"})
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/heic": ".heic",
    "application/pdf": ".pdf",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/amr": ".amr",
    "audio/wav": ".wav",
}
# The first bytes of the formats whose declared type we can check cheaply.
MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
TWILIO_HOSTS = ("twilio.com",)
TWILIO_API_BASE_URL = "https://api.twilio.com"


def base_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def allowed(content_type: str) -> bool:
    kind = base_type(content_type)
    if kind in REFUSED_TYPES:
        return False
    return kind in ALLOWED_TYPES or kind.startswith(ALLOWED_PREFIXES)


class Refused(Exception):
    """A file we will not keep (type or size); the reason is recorded."""


class Unavailable(Exception):
    """The provider did not give us the file (network, 4xx/5xx)."""


class Fetcher(Protocol):
    def fetch(self, ref: Mapping[str, Any], max_bytes: int) -> tuple[bytes, str]:
        """The file's bytes and the content type the provider gives for it."""
        ...


def _read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise Refused(f"arquivo maior que {max_bytes} bytes")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise Refused(f"arquivo maior que {max_bytes} bytes")
    return bytes(body)


class TwilioMediaFetcher:
    """GET of a Twilio media URL with the account's basic auth (redirects followed; httpx drops
    the credentials when a redirect leaves the host, as Twilio's CDN redirects do)."""

    def __init__(self, account_sid: str, auth_token: str, api_base_url: str = TWILIO_API_BASE_URL) -> None:
        self._auth = (account_sid, auth_token)
        self._base = urlsplit(api_base_url.rstrip("/"))
        self._rebase = api_base_url.rstrip("/") != TWILIO_API_BASE_URL
        self._client = httpx.Client(timeout=httpx.Timeout(20.0, connect=5.0), follow_redirects=True)

    def _url(self, url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or not any(host == h or host.endswith("." + h) for h in TWILIO_HOSTS):
            raise Unavailable(f"URL de mídia fora da Twilio: {url[:200]}")
        if not self._rebase:
            return url
        return urlunsplit(
            (self._base.scheme, self._base.netloc, self._base.path + parts.path, parts.query, "")
        )

    def fetch(self, ref: Mapping[str, Any], max_bytes: int) -> tuple[bytes, str]:
        url = self._url(str(ref.get("url") or ""))
        try:
            with self._client.stream("GET", url, auth=self._auth) as response:
                if response.status_code != 200:
                    raise Unavailable(f"Twilio respondeu {response.status_code} ao baixar a mídia")
                return _read_limited(response, max_bytes), response.headers.get("content-type", "")
        except httpx.HTTPError as exc:
            raise Unavailable(f"Twilio indisponível ao baixar a mídia: {exc}") from exc

    def close(self) -> None:
        self._client.close()


class TelegramFileFetcher:
    """getFile, then the file from ``{api}/file/bot<token>/<file_path>`` (PTB's base_file_url)."""

    def __init__(self, token: str, api_base_url: str) -> None:
        base = api_base_url.rstrip("/")
        self._api = f"{base}/bot{token}"
        self._files = f"{base}/file/bot{token}"
        self._client = httpx.Client(timeout=httpx.Timeout(20.0, connect=5.0))

    def fetch(self, ref: Mapping[str, Any], max_bytes: int) -> tuple[bytes, str]:
        file_id = str(ref.get("file_id") or "")
        size = ref.get("file_size")
        if isinstance(size, int) and size > max_bytes:
            raise Refused(f"arquivo maior que {max_bytes} bytes")
        try:
            r = self._client.post(f"{self._api}/getFile", json={"file_id": file_id})
            data = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            if r.status_code != 200 or not data.get("ok"):
                raise Unavailable(f"getFile falhou ({r.status_code}): {data.get('description', '')}")
            file_path = str(data["result"].get("file_path") or "")
            if not file_path:
                raise Unavailable("getFile sem file_path")
            with self._client.stream("GET", f"{self._files}/{file_path}") as response:
                if response.status_code != 200:
                    raise Unavailable(f"Telegram respondeu {response.status_code} ao baixar o arquivo")
                return _read_limited(response, max_bytes), response.headers.get("content-type", "")
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise Unavailable(f"Telegram indisponível ao baixar o arquivo: {exc}") from exc

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class MediaStore:
    """Files under ``root/<conversation>/<message id>-<index><ext>``, written atomically."""

    root: Path
    max_bytes: int = DEFAULT_MAX_BYTES

    def write(
        self, conversation_public_id: str, message_id: int, index: int, content: bytes, kind: str
    ) -> str:
        relative = Path(conversation_public_id) / f"{message_id}-{index}{EXTENSIONS.get(kind, '.bin')}"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return relative.as_posix()

    def resolve(self, relative: str) -> Path | None:
        """The stored file for a recorded path; None when missing or outside the media directory."""
        root = self.root.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path


def _check_magic(kind: str, content: bytes) -> None:
    prefixes = MAGIC.get(kind)
    if prefixes and not content.startswith(prefixes):
        raise Refused(f"conteúdo não corresponde ao tipo {kind}")


class MediaDownloader:
    def __init__(self, store: MediaStore, fetchers: Mapping[Channel, Fetcher]) -> None:
        self.store = store
        self._fetchers = fetchers

    def download(
        self, channel: Channel, conversation_public_id: str, message_id: int, refs: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Each announced attachment with the outcome of its download (entries already stored,
        refused or failed are kept as they are: a retried turn downloads nothing twice)."""
        return [
            ref if ref.get("status") else self._one(channel, conversation_public_id, message_id, i, ref)
            for i, ref in enumerate(refs)
        ]

    def _one(
        self, channel: Channel, public_id: str, message_id: int, index: int, ref: dict[str, Any]
    ) -> dict[str, Any]:
        declared = base_type(str(ref.get("content_type") or ""))
        fetcher = self._fetchers.get(channel)
        try:
            if declared and not allowed(declared):
                raise Refused(f"tipo de arquivo não aceito: {declared}")
            if fetcher is None:
                raise Unavailable(f"sem download de mídia no canal {channel.value}")
            content, served = fetcher.fetch(ref, self.store.max_bytes)
            kind = declared or base_type(served)
            if not allowed(kind):
                raise Refused(f"tipo de arquivo não aceito: {kind or 'desconhecido'}")
            _check_magic(kind, content)
            path = self.store.write(public_id, message_id, index, content, kind)
        except Refused as exc:
            return {**ref, "status": REFUSED, "error": str(exc)[:300]}
        except Unavailable as exc:
            log.warning("media %s of message %s not downloaded: %s", index, message_id, exc)
            return {**ref, "status": FAILED, "error": str(exc)[:300]}
        except OSError as exc:
            log.exception("media %s of message %s not stored", index, message_id)
            return {**ref, "status": FAILED, "error": f"falha ao gravar: {exc}"[:300]}
        return {
            **ref,
            "status": STORED,
            "path": path,
            "content_type": kind,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }

    def close(self) -> None:
        for fetcher in self._fetchers.values():
            close = getattr(fetcher, "close", None)
            if close is not None:
                close()
