"""Internal API for the Rasa action server (service token). Business rules stay here."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from server.api.deps import ContainerDep, ServiceAuth, SessionDep
from server.api.schemas import ContextOut, DebtSummaryOut, InvoiceBalanceOut, VerifyIn, VerifyOut
from server.clock import local_today
from server.domain.cnpj import format_cnpj
from server.domain.formatting import format_brl, format_date
from server.services import identity
from server.services.creditor import get_or_create_creditor
from server.services.debts import DisclosureRefused, debt_summary

router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[ServiceAuth])


@router.get("/conversations/{public_id}/context", response_model=ContextOut)
def get_context(public_id: str, session: SessionDep, container: ContainerDep) -> ContextOut:
    creditor = get_or_create_creditor(session, container.settings)
    try:
        ctx = identity.conversation_context(
            session, public_id, container.clock.now(), container.identity_policy, creditor.trade_name
        )
    except identity.ConversationNotFound as exc:
        raise HTTPException(404, "conversa não encontrada") from exc
    session.commit()
    return ContextOut(
        status=ctx.status.value,
        attempts_left=ctx.attempts_left,
        creditor_name=ctx.creditor_name,
        contact_first_name=ctx.contact_first_name,
    )


@router.post("/conversations/{public_id}/verify", response_model=VerifyOut)
def verify(public_id: str, body: VerifyIn, session: SessionDep, container: ContainerDep) -> VerifyOut:
    now = container.clock.now()
    try:
        decision = identity.verify_identity(session, public_id, body.answer, now, container.identity_policy)
        conversation = identity.load_conversation(session, public_id)
        status = identity.identity_status(session, conversation, now, container.identity_policy)
    except identity.ConversationNotFound as exc:
        raise HTTPException(404, "conversa não encontrada") from exc
    session.commit()
    return VerifyOut(
        outcome=decision.outcome.value, attempts_left=decision.attempts_left, status=status.value
    )


@router.get(
    "/conversations/{public_id}/debts",
    response_model=DebtSummaryOut,
    responses={403: {"description": "identity not verified; body has `status`"}},
)
def get_debts(public_id: str, session: SessionDep, container: ContainerDep) -> DebtSummaryOut:
    now = container.clock.now()
    try:
        summary = debt_summary(
            session,
            public_id,
            now,
            local_today(container.clock, container.settings.timezone),
            container.identity_policy,
        )
    except identity.ConversationNotFound as exc:
        raise HTTPException(404, "conversa não encontrada") from exc
    except DisclosureRefused as exc:
        # The action needs the status to tell the contact why nothing is shown.
        body = {"detail": "identidade não verificada", "status": exc.status.value}
        return JSONResponse(body, status_code=403)  # type: ignore[return-value]
    return DebtSummaryOut(
        debtor_name=summary.debtor_name,
        debtor_cnpj_display=format_cnpj(summary.debtor_cnpj),
        creditor_name=summary.creditor_name,
        as_of=summary.as_of,
        as_of_display=format_date(summary.as_of),
        invoice_count=len(summary.invoices),
        invoices=[
            InvoiceBalanceOut(
                number=i.number,
                issue_date=i.issue_date,
                due_date=i.due_date,
                days_late=i.balance.days_late,
                description=i.description,
                principal=str(i.balance.principal),
                late_fee=str(i.balance.late_fee),
                interest=str(i.balance.interest),
                total=str(i.balance.total),
                due_date_display=format_date(i.due_date),
                principal_display=format_brl(i.balance.principal),
                total_display=format_brl(i.balance.total),
            )
            for i in summary.invoices
        ],
        principal=str(summary.principal),
        total=str(summary.total),
        principal_display=format_brl(summary.principal),
        total_display=format_brl(summary.total),
    )
