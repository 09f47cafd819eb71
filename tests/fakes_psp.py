"""A fake PSP speaking the Bacen API Pix ``cobv`` shape over real HTTP on 127.0.0.1 (tests only).

Use as a context manager; ``base_url`` is where it listens. It records every request, can be
told to fail the next calls (``fail_next``), to revoke its tokens (``revoke_tokens``) and to
"pay" a charge (``pay``, which returns the webhook body the PSP would post).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from server.domain.pix import DynamicPix, encode_dynamic

ERROR_TYPE = "https://pix.bcb.gov.br/api/v2/error/"
COBV_PATH = re.compile(r"/v2/cobv/([^/?]+)")
COBV_TXID = re.compile(r"[a-zA-Z0-9]{26,35}")
AMOUNT = re.compile(r"[0-9]{1,10}\.[0-9]{2}")
LOCATION_HOST = "pix.fakepsp.test"
DROP = 0  # a "status" for fail_next: close the connection without answering


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, a form dict, or None


@dataclass
class _Failure:
    status: int
    path_prefix: str
    apply_first: bool  # handle the request, then answer with the failure anyway


@dataclass
class FakePsp:
    client_id: str = "negocia"
    client_secret: str = "segredo"
    token_ttl: int = 3600
    merchant_name: str = "FAKE PSP LTDA"
    merchant_city: str = "SAO PAULO"
    include_copia_e_cola: bool = True
    requests: list[RecordedRequest] = field(default_factory=list)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens_issued: int = 0
    _tokens: set[str] = field(default_factory=set)
    _failures: deque[_Failure] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> FakePsp:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- test controls ---------------------------------------------------------------------------

    def fail_next(
        self, status: int, times: int = 1, *, path_prefix: str = "/v2/", apply_first: bool = False
    ) -> None:
        with self._lock:
            self._failures.extend(_Failure(status, path_prefix, apply_first) for _ in range(times))

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def calls(self, method: str, path_prefix: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def pay(self, txid: str, amount: str | None = None, payer_info: str | None = None) -> dict[str, Any]:
        """Settle a charge; returns the webhook body ``{"pix": [...]}`` for that payment."""
        now = datetime.now(UTC)
        with self._lock:
            charge = self.charges[txid]
            payment = {
                "endToEndId": f"E00000000{now:%Y%m%d%H%M}{secrets.token_hex(6)[:11]}",
                "txid": txid,
                "valor": amount or charge["valor"]["original"],
                "horario": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            }
            if payer_info:
                payment["infoPagador"] = payer_info
            charge["status"] = "CONCLUIDA"
            charge.setdefault("pix", []).append(payment)
        return {"pix": [payment]}

    # -- request handling (called from the server threads) ---------------------------------------

    def _take_failure(self, path: str) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if path.startswith(failure.path_prefix):
                    self._failures.remove(failure)
                    return failure
        return None

    def _handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any] | None:
        """The (status, JSON) answer, or None to drop the connection without one."""
        body = _decode_body(headers, raw)
        with self._lock:
            self.requests.append(RecordedRequest(method, path, headers, body))
        failure = self._take_failure(path)
        if failure is None or failure.apply_first:
            answer = self._route(method, path, headers, body)
        if failure is None:
            return answer
        if failure.status == DROP:
            return None
        return failure.status, _problem(failure.status, "Falha simulada", "falha injetada pelo teste")

    def _route(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "POST" and path == "/oauth/token":
            return self._token(headers, body)
        match = COBV_PATH.fullmatch(path)
        if not match:
            return 404, _problem(404, "Não encontrado", f"rota desconhecida: {method} {path}")
        if not self._authorized(headers):
            return 401, _problem(401, "Não autorizado", "token de acesso inválido ou expirado")
        txid = match.group(1)
        if method == "PUT":
            return self._create(txid, body)
        if method == "GET":
            with self._lock:
                charge = self.charges.get(txid)
            if charge is None:
                return 404, _problem(404, "Cobrança não encontrada", "Não há cobrança com o txid informado.")
            return 200, charge
        return 405, _problem(405, "Método não permitido", method)

    def _token(self, headers: dict[str, str], form: Any) -> tuple[int, Any]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}":
            return 401, {"error": "invalid_client", "error_description": "credenciais do cliente inválidas"}
        if not isinstance(form, dict) or form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "use client_credentials"}
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._tokens.add(token)
            self.tokens_issued += 1
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
            "scope": "cobv.write cobv.read",
        }

    def _authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        with self._lock:
            return auth.startswith("Bearer ") and auth[len("Bearer ") :] in self._tokens

    def _create(self, txid: str, body: Any) -> tuple[int, Any]:
        violations = _cobv_violations(txid, body)
        with self._lock:
            if txid in self.charges:
                violations.append(("cobv.txid", "O campo cobv.txid encontra-se em uso."))
        if violations:
            return 400, _problem(
                400,
                "Cobrança inválida.",
                "A requisição que busca alterar ou criar uma cobrança com vencimento não respeita o schema ou está semanticamente errada.",
                violations,
            )
        location = f"{LOCATION_HOST}/qr/v2/cobv/{uuid.uuid4().hex}"
        charge: dict[str, Any] = {
            "calendario": {**body["calendario"], "criacao": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "txid": txid,
            "revisao": 0,
            "loc": {"id": len(self.charges) + 1, "location": location, "tipoCob": "cobv"},
            "location": location,
            "status": "ATIVA",
            "devedor": body["devedor"],
            "recebedor": {"nome": self.merchant_name, "cidade": self.merchant_city},
            "valor": body["valor"],
            "chave": body["chave"],
        }
        if "solicitacaoPagador" in body:
            charge["solicitacaoPagador"] = body["solicitacaoPagador"]
        if self.include_copia_e_cola:
            charge["pixCopiaECola"] = encode_dynamic(
                DynamicPix(location, self.merchant_name, self.merchant_city)
            )
        with self._lock:
            self.charges[txid] = charge
        return 201, charge


def _cobv_violations(txid: str, body: Any) -> list[tuple[str, str]]:
    if not COBV_TXID.fullmatch(txid):
        return [("cobv.txid", "O campo cobv.txid não respeita o schema.")]
    if not isinstance(body, dict):
        return [("cobv", "corpo não é um objeto JSON")]
    out: list[tuple[str, str]] = []
    if not (body.get("calendario") or {}).get("dataDeVencimento"):
        out.append(("cobv.calendario.dataDeVencimento", "O campo não respeita o schema."))
    if not AMOUNT.fullmatch(str((body.get("valor") or {}).get("original", ""))):
        out.append(("cobv.valor.original", "O campo não respeita o schema."))
    devedor = body.get("devedor") or {}
    if not devedor.get("nome") or not (devedor.get("cnpj") or devedor.get("cpf")):
        out.append(("cobv.devedor", "O objeto cobv.devedor não respeita o schema."))
    if not body.get("chave"):
        out.append(("cobv.chave", "O campo cobv.chave não respeita o schema."))
    return out


def _problem(
    status: int, title: str, detail: str, violations: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    problem: dict[str, Any] = {
        "type": f"{ERROR_TYPE}Erro{status}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if violations:
        problem["violacoes"] = [{"razao": razao, "propriedade": prop} for prop, razao in violations]
    return problem


def _decode_body(headers: dict[str, str], raw: bytes) -> Any:
    if not raw:
        return None
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _handler_for(fake: FakePsp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes: with Nagle's algorithm on, the body waited for the
        # client's delayed ACK, ~40 ms per keep-alive request (a real API answers at once).
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            result = fake._handle(self.command, self.path.split("?", 1)[0], headers, raw)
            if result is None:
                # A connection reset: no status line, the socket just closes.
                self.close_connection = True
                return
            status, answer = result
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header(
                "Content-Type", "application/problem+json" if status >= 400 else "application/json"
            )
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
