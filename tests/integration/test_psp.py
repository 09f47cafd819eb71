"""BacenCobvClient against FakePsp over real HTTP on 127.0.0.1, and webhook parsing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from server.adapters.psp import (
    BacenCobvClient,
    DueCharge,
    InvalidChargeRequest,
    InvalidWebhook,
    PixCharges,
    PixPayment,
    PspConfig,
    PspError,
    new_cobv_txid,
    parse_pix_webhook,
)
from server.domain.pix import parse_brcode
from tests.fakes_psp import DROP, FakePsp

PIX_KEY = "12345678000195"
DEBTOR_CNPJ = "12.ABC.345/01DE-35"
TXID = "negocia0000000000000000000001"
DUE = date(2026, 12, 10)


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def psp() -> Iterator[FakePsp]:
    with FakePsp() as fake:
        yield fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def config_for(psp: FakePsp, **changes: Any) -> PspConfig:
    values: dict[str, Any] = {
        "base_url": psp.base_url,
        "client_id": psp.client_id,
        "client_secret": psp.client_secret,
        "pix_key": PIX_KEY,
        "merchant_name": "Credora Distribuidora",
        "merchant_city": "Sao Paulo",
        "timeout_seconds": 5.0,
        **changes,
    }
    return PspConfig(**values)


@pytest.fixture
def client(psp: FakePsp, clock: ManualClock) -> Iterator[BacenCobvClient]:
    with BacenCobvClient(config_for(psp), clock=clock) as c:
        yield c


def create(client: PixCharges, txid: str = TXID, amount: str = "1113.27") -> DueCharge:
    return client.create_due_charge(
        txid=txid,
        amount=Decimal(amount),
        due_date=DUE,
        debtor_name="Mercado Bom Preço Ltda",
        debtor_cnpj=DEBTOR_CNPJ,
        description="Acordo 42 - parcela 1 de 10",
    )


# -- creating and reading charges ----------------------------------------------------------------


def test_create_due_charge_sends_the_cobv_shape(client: BacenCobvClient, psp: FakePsp) -> None:
    charge = create(client)

    [put] = psp.calls("PUT")
    assert put.path == f"/v2/cobv/{TXID}"
    assert put.body == {
        "calendario": {"dataDeVencimento": "2026-12-10", "validadeAposVencimento": 30},
        "devedor": {"cnpj": "12ABC34501DE35", "nome": "Mercado Bom Preço Ltda"},
        "valor": {"original": "1113.27"},
        "chave": PIX_KEY,
        "solicitacaoPagador": "Acordo 42 - parcela 1 de 10",
    }
    assert put.headers["authorization"].startswith("Bearer ")
    assert put.headers["content-type"] == "application/json"

    assert charge.txid == TXID and charge.status == "ATIVA" and not charge.is_paid
    assert charge.amount == Decimal("1113.27") and charge.due_date == DUE
    assert charge.location is not None
    parsed = parse_brcode(charge.pix_copia_e_cola)
    assert parsed.url == charge.location and parsed.unique_use


def test_token_request_is_client_credentials_with_basic_auth(client: BacenCobvClient, psp: FakePsp) -> None:
    create(client)
    [token] = psp.calls("POST", "/oauth/token")
    assert token.body == {"grant_type": "client_credentials", "scope": "cobv.write cobv.read"}
    assert token.headers["authorization"].startswith("Basic ")


def test_get_charge_sees_the_payment(client: BacenCobvClient, psp: FakePsp) -> None:
    create(client)
    webhook = psp.pay(TXID, payer_info="parcela 1")

    charge = client.get_charge(TXID)

    assert charge.is_paid and charge.status == "CONCLUIDA"
    [payment] = charge.payments
    assert payment.txid == TXID and payment.amount == Decimal("1113.27")
    assert payment.payer_info == "parcela 1"
    assert parse_pix_webhook(webhook) == [payment]


def test_builds_the_copia_e_cola_from_location_when_the_psp_omits_it(
    psp: FakePsp, clock: ManualClock
) -> None:
    psp.include_copia_e_cola = False
    with BacenCobvClient(config_for(psp), clock=clock) as client:
        charge = create(client)
    parsed = parse_brcode(charge.pix_copia_e_cola)
    assert parsed.url == charge.location
    assert (parsed.merchant_name, parsed.merchant_city) == ("Credora Distribuidora", "Sao Paulo")


def test_unknown_charge_is_a_psp_error_with_the_psp_message(client: BacenCobvClient, psp: FakePsp) -> None:
    with pytest.raises(PspError, match="Cobrança não encontrada") as info:
        client.get_charge(TXID)
    assert info.value.status_code == 404
    assert len(psp.calls("GET")) == 1


# -- token caching -------------------------------------------------------------------------------


def test_token_is_cached_until_near_expiry(client: BacenCobvClient, psp: FakePsp, clock: ManualClock) -> None:
    create(client, txid=new_cobv_txid())
    create(client, txid=new_cobv_txid())
    client.get_charge(psp.calls("PUT")[0].path.rsplit("/", 1)[1])
    assert psp.tokens_issued == 1

    clock.now += psp.token_ttl - 31  # still inside the validity minus the 30 s margin
    create(client, txid=new_cobv_txid())
    assert psp.tokens_issued == 1

    clock.now += 2  # now within the margin: renew before the PSP would refuse it
    create(client, txid=new_cobv_txid())
    assert psp.tokens_issued == 2


def test_a_revoked_token_is_replaced_once(client: BacenCobvClient, psp: FakePsp) -> None:
    create(client, txid=new_cobv_txid())
    psp.revoke_tokens()

    create(client, txid=new_cobv_txid())

    assert psp.tokens_issued == 2
    assert len(psp.calls("PUT")) == 3  # first charge, the refused call, the call with a new token


def test_persistent_401_is_an_error(client: BacenCobvClient, psp: FakePsp) -> None:
    psp.fail_next(401, times=2)
    with pytest.raises(PspError) as info:
        create(client)
    assert info.value.status_code == 401
    assert len(psp.calls("PUT")) == 2 and psp.tokens_issued == 2


def test_wrong_credentials_fail_without_retry(psp: FakePsp, clock: ManualClock) -> None:
    with (
        BacenCobvClient(config_for(psp, client_secret="errado"), clock=clock) as client,
        pytest.raises(PspError, match="credenciais do cliente inválidas") as info,
    ):
        create(client)
    assert info.value.status_code == 401
    assert len(psp.calls("POST", "/oauth/token")) == 1
    assert psp.calls("PUT") == []


# -- retries -------------------------------------------------------------------------------------


def test_4xx_is_not_retried_and_carries_the_violations(client: BacenCobvClient, psp: FakePsp) -> None:
    create(client)
    with pytest.raises(
        PspError, match=r"Cobrança inválida.*cobv\.txid: O campo cobv\.txid encontra-se em uso"
    ) as info:
        create(client)  # same txid again
    assert info.value.status_code == 400 and not info.value.after_retry
    assert len(psp.calls("PUT")) == 2


def test_injected_400_is_not_retried(client: BacenCobvClient, psp: FakePsp) -> None:
    psp.fail_next(400)
    with pytest.raises(PspError, match="HTTP 400: Falha simulada"):
        create(client)
    assert len(psp.calls("PUT")) == 1
    assert psp.charges == {}


def test_one_5xx_is_retried(client: BacenCobvClient, psp: FakePsp) -> None:
    psp.fail_next(503)
    charge = create(client)
    assert charge.status == "ATIVA"
    assert len(psp.calls("PUT")) == 2


def test_two_5xx_give_up_with_psp_error(client: BacenCobvClient, psp: FakePsp) -> None:
    psp.fail_next(500, times=2)
    with pytest.raises(PspError, match="HTTP 500") as info:
        create(client)
    assert info.value.status_code == 500
    assert len(psp.calls("PUT")) == 2
    assert psp.charges == {}


def test_token_endpoint_5xx_is_retried_once(client: BacenCobvClient, psp: FakePsp) -> None:
    psp.fail_next(502, path_prefix="/oauth/token")
    create(client)
    assert len(psp.calls("POST", "/oauth/token")) == 2


def test_dropped_connection_is_retried_once(client: BacenCobvClient, psp: FakePsp) -> None:
    psp.fail_next(DROP)
    assert create(client).status == "ATIVA"
    assert len(psp.calls("PUT")) == 2


def test_two_dropped_connections_give_up(client: BacenCobvClient, psp: FakePsp) -> None:
    psp.fail_next(DROP, times=2)
    with pytest.raises(PspError, match="PSP inacessível"):
        create(client)
    assert len(psp.calls("PUT")) == 2


def test_unreachable_psp(clock: ManualClock) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = PspConfig(
        base_url=f"http://127.0.0.1:{port}",
        client_id="x",
        client_secret="y",
        pix_key=PIX_KEY,
        merchant_name="Credora",
        merchant_city="Sao Paulo",
        timeout_seconds=2.0,
    )
    with BacenCobvClient(config, clock=clock) as client, pytest.raises(PspError, match="PSP inacessível"):
        create(client)


def test_a_charge_created_before_a_lost_answer_is_recovered(client: BacenCobvClient, psp: FakePsp) -> None:
    # The PSP creates the charge but the answer is lost; the retried PUT is refused as a duplicate.
    psp.fail_next(DROP, apply_first=True)
    charge = create(client)
    assert charge.txid == TXID and charge.status == "ATIVA"
    assert len(psp.calls("PUT")) == 2 and len(psp.calls("GET")) == 1
    assert len(psp.charges) == 1


def test_a_duplicate_with_another_amount_is_not_taken_as_ours(client: BacenCobvClient, psp: FakePsp) -> None:
    create(client, amount="10.00")
    psp.fail_next(500)
    with pytest.raises(PspError, match="encontra-se em uso"):
        create(client, amount="20.00")


# -- input validation and bad PSP answers -------------------------------------------------------


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"txid": "curto123"}, "26 a 35"),
        ({"txid": "negocia-000000000000000000000001"}, "26 a 35"),
        ({"txid": "a" * 36}, "26 a 35"),
        ({"amount": Decimal("0.00")}, "positivo"),
        ({"amount": Decimal("1.001")}, "duas casas"),
        ({"amount": 10.5}, "Decimal"),
        ({"debtor_cnpj": "12.345.678/0001-96"}, "CNPJ do devedor"),
        ({"debtor_name": "  "}, "nome do devedor"),
        ({"description": "x" * 141}, "140"),
    ],
)
def test_bad_input_is_rejected_before_any_request(
    client: BacenCobvClient, psp: FakePsp, changes: dict[str, Any], reason: str
) -> None:
    args: dict[str, Any] = {
        "txid": TXID,
        "amount": Decimal("100.00"),
        "due_date": DUE,
        "debtor_name": "Mercado",
        "debtor_cnpj": DEBTOR_CNPJ,
        **changes,
    }
    with pytest.raises(InvalidChargeRequest, match=reason):
        client.create_due_charge(**args)
    assert psp.requests == []


def test_an_unpayable_copia_e_cola_from_the_psp_is_an_error(client: BacenCobvClient, psp: FakePsp) -> None:
    create(client)
    psp.charges[TXID]["pixCopiaECola"] = "00020126...6304ABCD"
    with pytest.raises(PspError, match="resposta de cobrança inválida"):
        client.get_charge(TXID)


def test_a_charge_for_another_txid_is_an_error(client: BacenCobvClient, psp: FakePsp) -> None:
    create(client)
    psp.charges[TXID]["txid"] = "outro0000000000000000000000001"
    with pytest.raises(PspError, match="difere do pedido"):
        client.get_charge(TXID)


# -- webhook -------------------------------------------------------------------------------------

E2E = "E12345678202611221000abcdefghijk"


def test_parse_webhook() -> None:
    body = {
        "pix": [
            {
                "endToEndId": E2E,
                "txid": TXID,
                "valor": "1113.27",
                "horario": "2026-11-22T10:00:00.000Z",
                "infoPagador": "parcela 1",
            },
            {"endToEndId": "E" + "9" * 31, "valor": "0.01", "horario": "2026-11-22T07:30:00-03:00"},
        ]
    }
    assert parse_pix_webhook(body) == [
        PixPayment(E2E, TXID, Decimal("1113.27"), datetime(2026, 11, 22, 10, 0, tzinfo=UTC), "parcela 1"),
        PixPayment("E" + "9" * 31, None, Decimal("0.01"), datetime(2026, 11, 22, 10, 30, tzinfo=UTC)),
    ]


def test_webhook_amount_may_come_as_decimal_json_number() -> None:
    body = {"pix": [{"endToEndId": E2E, "valor": Decimal("5.50"), "horario": "2026-11-22T10:00:00Z"}]}
    assert parse_pix_webhook(body)[0].amount == Decimal("5.50")


def test_empty_webhook_list() -> None:
    assert parse_pix_webhook({"pix": []}) == []


def _item(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "endToEndId": E2E,
        "txid": TXID,
        "valor": "10.00",
        "horario": "2026-11-22T10:00:00Z",
    }
    for key, value in changes.items():
        if value is None:
            item.pop(key)
        else:
            item[key] = value
    return item


@pytest.mark.parametrize(
    "body, reason",
    [
        ([], "objeto JSON"),
        ({}, "lista 'pix'"),
        ({"pix": {"endToEndId": E2E}}, "lista 'pix'"),
        ({"pix": ["x"]}, r"pix\[0\]: deve ser um objeto"),
        ({"pix": [_item(endToEndId=None)]}, r"pix\[0\]\.endToEndId"),
        ({"pix": [_item(endToEndId="E123")]}, "32 letras"),
        ({"pix": [_item(), _item(txid="tx-1")]}, r"pix\[1\]\.txid"),
        ({"pix": [_item(txid=123)]}, r"\.txid"),
        ({"pix": [_item(valor=None)]}, r"\.valor: valor deve ser texto"),
        ({"pix": [_item(valor="10")]}, "formato 123.45"),
        ({"pix": [_item(valor="10,00")]}, "formato 123.45"),
        ({"pix": [_item(valor="1.005")]}, "formato 123.45"),
        ({"pix": [_item(valor="0.00")]}, "positivo"),
        ({"pix": [_item(valor=10.0)]}, "ponto flutuante"),
        ({"pix": [_item(valor=Decimal("1.005"))]}, "formato 123.45"),
        ({"pix": [_item(horario=None)]}, r"\.horario"),
        ({"pix": [_item(horario="22/11/2026 10:00")]}, "data e hora inválida"),
        ({"pix": [_item(horario="2026-11-22T10:00:00")]}, "sem fuso"),
        ({"pix": [_item(infoPagador=7)]}, "infoPagador"),
    ],
)
def test_bad_webhooks_are_rejected_with_reason(body: object, reason: str) -> None:
    with pytest.raises(InvalidWebhook, match=reason):
        parse_pix_webhook(body)
