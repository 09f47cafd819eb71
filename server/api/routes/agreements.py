"""Agreements for staff, and the debtor's signed link to the term PDF."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from server.adapters.qr import qr_png
from server.adapters.term_pdf import render_term_pdf
from server.api.deps import ContainerDep, SessionDep, StaffUser
from server.api.presenters import agreement_view
from server.db.models import Agreement, AgreementInvoice, AgreementStatus
from server.domain.signed_links import BadSignature, LinkExpired
from server.services.agreements import load_agreement, term_data
from server.services.public_links import check_link, qr_path, term_path, term_url

router = APIRouter(tags=["agreements"])


@router.get("/api/agreements")
def list_agreements(
    session: SessionDep,
    user: StaffUser,
    status: AgreementStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    stmt = (
        select(Agreement)
        .options(
            selectinload(Agreement.installments),
            selectinload(Agreement.invoices).selectinload(AgreementInvoice.invoice),
        )
        .order_by(Agreement.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if status is not None:
        stmt = stmt.where(Agreement.status == status)
    return {"agreements": [agreement_view(a) for a in session.scalars(stmt)]}


def _agreement(session: SessionDep, agreement_id: str) -> Agreement:
    agreement = load_agreement(session, agreement_id)
    if agreement is None:
        raise HTTPException(404, "acordo não encontrado")
    return agreement


@router.get("/api/agreements/{agreement_id}")
def get_agreement(
    agreement_id: str, session: SessionDep, container: ContainerDep, user: StaffUser
) -> dict[str, Any]:
    return agreement_view(_agreement(session, agreement_id), term_url(container, agreement_id))


def _pdf(agreement: Agreement, container: ContainerDep) -> Response:
    pdf = render_term_pdf(term_data(agreement, container.settings))
    headers = {"Content-Disposition": f'inline; filename="termo-de-acordo-{agreement.public_id}.pdf"'}
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get("/api/agreements/{agreement_id}/term.pdf")
def staff_term_pdf(
    agreement_id: str, session: SessionDep, container: ContainerDep, user: StaffUser
) -> Response:
    return _pdf(_agreement(session, agreement_id), container)


@router.get("/public/agreements/{agreement_id}/term.pdf", include_in_schema=False)
def debtor_term_pdf(
    agreement_id: str,
    session: SessionDep,
    container: ContainerDep,
    exp: Annotated[str, Query()] = "",
    sig: Annotated[str, Query()] = "",
) -> Response:
    """The debtor's copy, behind a signed link that expires (no login on WhatsApp)."""
    _checked(container, term_path(agreement_id), exp, sig)
    return _pdf(_agreement(session, agreement_id), container)


def _checked(container: ContainerDep, path: str, exp: str, sig: str) -> None:
    try:
        check_link(container, path, exp, sig)
    except LinkExpired as exc:
        raise HTTPException(410, "link expirado: peça um novo link na conversa") from exc
    except BadSignature as exc:
        raise HTTPException(403, "link inválido") from exc


@router.get("/public/agreements/{agreement_id}/installments/{number}/qr.png", include_in_schema=False)
def installment_qr(
    agreement_id: str,
    number: int,
    session: SessionDep,
    container: ContainerDep,
    exp: Annotated[str, Query()] = "",
    sig: Annotated[str, Query()] = "",
) -> Response:
    """The QR code of one installment's PIX, for WhatsApp to fetch as an image."""
    _checked(container, qr_path(agreement_id, number), exp, sig)
    agreement = _agreement(session, agreement_id)
    installment = next((i for i in agreement.installments if i.number == number), None)
    if installment is None:
        raise HTTPException(404, "parcela não encontrada")
    return Response(
        qr_png(installment.pix_code), media_type="image/png", headers={"Cache-Control": "private"}
    )
