"""PSP port for PIX charges with a due date (Bacen API Pix ``cobv``) and payment webhooks.

``BacenCobvClient`` speaks the Bacen API Pix shape that PSPs implement: OAuth2 client
credentials at ``/oauth/token``, ``PUT /v2/cobv/{txid}`` to create a charge and
``GET /v2/cobv/{txid}`` to read it back. Production PSPs also require mutual TLS: pass an
``ssl.SSLContext`` with the client certificate loaded as ``verify``.
"""

from __future__ import annotations

import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import httpx

from server.domain.cnpj import InvalidCNPJ, normalize_cnpj
from server.domain.pix import DynamicPix, PixError, encode_dynamic, format_amount, parse_brcode

COBV_TXID = re.compile(r"[a-zA-Z0-9]{26,35}")
PAYMENT_TXID = re.compile(r"[a-zA-Z0-9]{1,35}")
END_TO_END_ID = re.compile(r"[a-zA-Z0-9]{32}")
AMOUNT = re.compile(r"[0-9]{1,10}\.[0-9]{2}")
MAX_DEBTOR_NAME = 200
MAX_PAYER_REQUEST = 140
STATUS_ACTIVE = "ATIVA"
STATUS_PAID = "CONCLUIDA"
TOKEN_EXPIRY_MARGIN_SECONDS = 30.0


class PspError(Exception):
    """The PSP refused or failed a request; ``message`` carries the PSP's own explanation."""

    def __init__(self, message: str, status_code: int | None = None, *, after_retry: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.after_retry = after_retry

    @property
    def is_refusal(self) -> bool:
        """The PSP understood and refused the request (a 4xx other than 401)."""
        return self.status_code is not None and 400 <= self.status_code < 500 and self.status_code != 401


class InvalidChargeRequest(ValueError):
    """Our own input was wrong; nothing was sent to the PSP."""


class InvalidWebhook(ValueError):
    """A payment notification that does not have the Bacen webhook shape."""


@dataclass(frozen=True)
class PixPayment:
    end_to_end_id: str
    txid: str | None  # PIX sent to a key without a charge carries no txid
    amount: Decimal
    paid_at: datetime  # aware, UTC
    payer_info: str | None = None


@dataclass(frozen=True)
class DueCharge:
    txid: str
    status: str
    amount: Decimal
    due_date: date
    location: str | None
    pix_copia_e_cola: str
    payments: tuple[PixPayment, ...] = ()

    @property
    def is_paid(self) -> bool:
        return self.status == STATUS_PAID


class PixCharges(Protocol):
    def create_due_charge(
        self,
        txid: str,
        amount: Decimal,
        due_date: date,
        debtor_name: str,
        debtor_cnpj: str,
        description: str | None = None,
    ) -> DueCharge: ...

    def get_charge(self, txid: str) -> DueCharge: ...


def new_cobv_txid() -> str:
    """A fresh txid for a ``cobv`` (32 hex characters, inside the 26-35 the API demands)."""
    return uuid.uuid4().hex


def validate_cobv_txid(txid: str) -> str:
    if not isinstance(txid, str) or not COBV_TXID.fullmatch(txid):
        raise InvalidChargeRequest(
            f"txid de cobrança com vencimento deve ter 26 a 35 letras ou dígitos: {txid!r}"
        )
    return txid


@dataclass(frozen=True)
class PspConfig:
    base_url: str
    client_id: str
    client_secret: str
    pix_key: str
    # Used to build the BR Code when a PSP answers with a location but no "pixCopiaECola".
    merchant_name: str
    merchant_city: str
    days_valid_after_due: int = 30
    timeout_seconds: float = 10.0
    scope: str = "cobv.write cobv.read"


# ---------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------


class BacenCobvClient:
    """``PixCharges`` over HTTP. Thread-safe; keep one per process and ``close()`` it at exit."""

    def __init__(
        self,
        config: PspConfig,
        *,
        http: httpx.Client | None = None,
        verify: ssl.SSLContext | bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._base_url = config.base_url.rstrip("/")
        self._http = http or httpx.Client(timeout=config.timeout_seconds, verify=verify)
        self._clock = clock
        self._token: str | None = None
        self._token_valid_until = 0.0
        self._token_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BacenCobvClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- PixCharges ------------------------------------------------------------------------------

    def create_due_charge(
        self,
        txid: str,
        amount: Decimal,
        due_date: date,
        debtor_name: str,
        debtor_cnpj: str,
        description: str | None = None,
    ) -> DueCharge:
        body = self._cobv_body(amount, due_date, debtor_name, debtor_cnpj, description)
        path = f"/v2/cobv/{validate_cobv_txid(txid)}"
        try:
            response = self._api("PUT", path, body)
        except PspError as error:
            if not (error.after_retry and error.is_refusal):
                raise
            # The first attempt may have created the charge before failing; if it did, the
            # retry is refused as a duplicate txid and the charge is there to read.
            existing = self._existing(txid)
            if existing is None or existing.amount != amount:
                raise
            return existing
        return self._charge(response, txid)

    def get_charge(self, txid: str) -> DueCharge:
        response = self._api("GET", f"/v2/cobv/{validate_cobv_txid(txid)}")
        return self._charge(response, txid)

    # -- request building ------------------------------------------------------------------------

    def _cobv_body(
        self, amount: Decimal, due_date: date, debtor_name: str, debtor_cnpj: str, description: str | None
    ) -> dict[str, Any]:
        try:
            original = format_amount(amount)
        except PixError as exc:
            raise InvalidChargeRequest(str(exc)) from exc
        try:
            cnpj = normalize_cnpj(debtor_cnpj)
        except InvalidCNPJ as exc:
            raise InvalidChargeRequest(f"CNPJ do devedor: {exc}") from exc
        name = " ".join(debtor_name.split())
        if not name or len(name) > MAX_DEBTOR_NAME:
            raise InvalidChargeRequest(f"nome do devedor deve ter de 1 a {MAX_DEBTOR_NAME} caracteres")
        body: dict[str, Any] = {
            "calendario": {
                "dataDeVencimento": due_date.isoformat(),
                "validadeAposVencimento": self._config.days_valid_after_due,
            },
            "devedor": {"cnpj": cnpj, "nome": name},
            "valor": {"original": original},
            "chave": self._config.pix_key,
        }
        if description:
            if len(description) > MAX_PAYER_REQUEST:
                raise InvalidChargeRequest(f"descrição com mais de {MAX_PAYER_REQUEST} caracteres")
            body["solicitacaoPagador"] = description
        return body

    # -- HTTP ------------------------------------------------------------------------------------

    def _send(self, request: Callable[[], httpx.Response]) -> tuple[httpx.Response, bool]:
        """Send with one retry on a 5xx or a connection error; returns (response, retried).

        Retrying is safe: the token request has no side effect and the charge calls are keyed
        by txid (a repeated PUT cannot create a second charge).
        """
        try:
            response = request()
        except httpx.TransportError:
            pass
        else:
            if response.status_code < 500:
                return response, False
        try:
            return request(), True
        except httpx.TransportError as exc:
            raise PspError(f"PSP inacessível: {type(exc).__name__}: {exc}") from exc

    def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        url = self._base_url + path

        def request() -> httpx.Response:
            headers = {"Authorization": f"Bearer {self._access_token()}"}
            return self._http.request(method, url, json=body, headers=headers)

        response, retried = self._send(request)
        if response.status_code == 401:
            # The PSP may revoke a token before its declared expiry; fetch another one once.
            self._drop_token()
            response, retried = self._send(request)
        if response.is_success:
            return response
        raise PspError(_psp_message(response), response.status_code, after_retry=retried)

    def _existing(self, txid: str) -> DueCharge | None:
        try:
            return self.get_charge(txid)
        except PspError:
            return None

    def _access_token(self) -> str:
        with self._token_lock:
            if self._token is not None and self._clock() < self._token_valid_until:
                return self._token
            self._token, self._token_valid_until = self._fetch_token()
            return self._token

    def _drop_token(self) -> None:
        with self._token_lock:
            self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        started = self._clock()
        response, _ = self._send(
            lambda: self._http.post(
                f"{self._base_url}/oauth/token",
                data={"grant_type": "client_credentials", "scope": self._config.scope},
                auth=(self._config.client_id, self._config.client_secret),
            )
        )
        if not response.is_success:
            raise PspError(f"autenticação no PSP falhou: {_psp_message(response)}", response.status_code)
        body = _json_object(response)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | Decimal):
            raise PspError("resposta de token do PSP sem access_token/expires_in", response.status_code)
        ttl = float(expires_in)
        if ttl <= 0:
            raise PspError(f"PSP devolveu token com expires_in inválido: {expires_in}", response.status_code)
        return token, started + ttl - min(TOKEN_EXPIRY_MARGIN_SECONDS, ttl / 2)

    # -- response parsing ------------------------------------------------------------------------

    def _charge(self, response: httpx.Response, txid: str) -> DueCharge:
        body = _json_object(response)
        try:
            return self._charge_from(body, txid)
        except (KeyError, TypeError, AttributeError, ValueError, InvalidOperation) as exc:
            raise PspError(f"resposta de cobrança inválida do PSP: {exc}", response.status_code) from exc

    def _charge_from(self, body: dict[str, Any], txid: str) -> DueCharge:
        if body.get("txid") != txid:
            raise ValueError(f"txid {body.get('txid')!r} difere do pedido {txid!r}")
        status = body["status"]
        if not isinstance(status, str) or not status:
            raise ValueError("status ausente")
        location = body.get("location") or (body.get("loc") or {}).get("location")
        return DueCharge(
            txid=txid,
            status=status,
            amount=_decimal(body["valor"]["original"], "valor.original"),
            due_date=date.fromisoformat(body["calendario"]["dataDeVencimento"]),
            location=location,
            pix_copia_e_cola=self._copia_e_cola(body.get("pixCopiaECola"), location),
            payments=tuple(_payment(p, f"pix[{i}]") for i, p in enumerate(body.get("pix") or [])),
        )

    def _copia_e_cola(self, payload: object, location: str | None) -> str:
        if payload is None and location:
            c = self._config
            return encode_dynamic(DynamicPix(location, c.merchant_name, c.merchant_city))
        if not isinstance(payload, str):
            raise ValueError("sem pixCopiaECola nem location")
        parse_brcode(payload)  # a PSP bug must not reach a debtor as an unpayable code
        return payload


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json(parse_float=Decimal)
    except ValueError as exc:
        raise PspError(f"PSP respondeu algo que não é JSON (HTTP {response.status_code})") from exc
    if not isinstance(body, dict):
        raise PspError(f"PSP respondeu JSON que não é um objeto (HTTP {response.status_code})")
    return body


def _psp_message(response: httpx.Response) -> str:
    """The PSP's explanation: RFC 7807 title/detail/violações, or OAuth error/description."""
    try:
        body = response.json()
    except ValueError:
        body = None
    parts: list[str] = []
    if isinstance(body, dict):
        keys = (
            ("title", "detail") if ("title" in body or "detail" in body) else ("error", "error_description")
        )
        parts = [str(body[k]) for k in keys if body.get(k)]
        for violation in body.get("violacoes") or []:
            if isinstance(violation, dict):
                parts.append(f"{violation.get('propriedade', '?')}: {violation.get('razao', '?')}")
    if not parts:
        parts = [response.text.strip()[:200] or response.reason_phrase]
    return f"HTTP {response.status_code}: " + "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Webhook
# ---------------------------------------------------------------------------------------------


def parse_pix_webhook(body: object) -> list[PixPayment]:
    """The payments in a Bacen API Pix webhook call (``{"pix": [...]}``), or InvalidWebhook."""
    if not isinstance(body, dict):
        raise InvalidWebhook("o corpo do webhook deve ser um objeto JSON")
    items = body.get("pix")
    if not isinstance(items, list):
        raise InvalidWebhook("o webhook deve ter a lista 'pix'")
    return [_payment(item, f"pix[{i}]") for i, item in enumerate(items)]


def _payment(item: object, where: str) -> PixPayment:
    if not isinstance(item, dict):
        raise InvalidWebhook(f"{where}: deve ser um objeto")
    e2e = item.get("endToEndId")
    if not isinstance(e2e, str) or not END_TO_END_ID.fullmatch(e2e):
        raise InvalidWebhook(f"{where}.endToEndId: deve ter 32 letras ou dígitos, veio {e2e!r}")
    txid = item.get("txid")
    if txid is not None and (not isinstance(txid, str) or not PAYMENT_TXID.fullmatch(txid)):
        raise InvalidWebhook(f"{where}.txid: deve ter de 1 a 35 letras ou dígitos, veio {txid!r}")
    info = item.get("infoPagador")
    if info is not None and not isinstance(info, str):
        raise InvalidWebhook(f"{where}.infoPagador: deve ser texto")
    return PixPayment(
        end_to_end_id=e2e,
        txid=txid,
        amount=_webhook_amount(item.get("valor"), f"{where}.valor"),
        paid_at=_timestamp(item.get("horario"), f"{where}.horario"),
        payer_info=info,
    )


def _webhook_amount(raw: object, where: str) -> Decimal:
    if isinstance(raw, float):
        raise InvalidWebhook(
            f"{where}: valor veio como número de ponto flutuante; leia o JSON com parse_float=Decimal"
        )
    try:
        amount = _decimal(raw, where)
    except ValueError as exc:
        raise InvalidWebhook(str(exc)) from exc
    if amount <= 0:
        raise InvalidWebhook(f"{where}: deve ser positivo, veio {raw!r}")
    return amount


def _decimal(raw: object, where: str) -> Decimal:
    """A "123.45" string (the API's format), or a Decimal from JSON read with parse_float=Decimal."""
    if isinstance(raw, str) and AMOUNT.fullmatch(raw):
        return Decimal(raw)
    if isinstance(raw, Decimal) and raw.is_finite() and raw == raw.quantize(Decimal("0.01")):
        return raw.quantize(Decimal("0.01"))
    raise ValueError(f"{where}: valor deve ser texto no formato 123.45, veio {raw!r}")


def _timestamp(raw: object, where: str) -> datetime:
    if not isinstance(raw, str):
        raise InvalidWebhook(f"{where}: deve ser data e hora RFC 3339, veio {raw!r}")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidWebhook(f"{where}: data e hora inválida {raw!r}") from exc
    if moment.tzinfo is None:
        raise InvalidWebhook(f"{where}: data e hora sem fuso horário {raw!r}")
    return moment.astimezone(UTC)
