"""Server-rendered pages: the sandbox chat (a demo contact talking to the bot)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from server.api.deps import ContainerDep, SessionDep
from server.db.models import Contact, Debtor

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[2] / "web" / "templates")
router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> RedirectResponse:
    return RedirectResponse("/sandbox")


@router.get("/sandbox", response_class=HTMLResponse)
def sandbox_page(request: Request, session: SessionDep, container: ContainerDep) -> HTMLResponse:
    # The sandbox lets anyone write as any phone and lists contacts: a demo tool, off in production.
    if not container.settings.sandbox_enabled:
        raise HTTPException(404, "canal sandbox desativado")
    rows = session.execute(
        select(Contact.name, Contact.phone_e164, Debtor.legal_name, Debtor.cnpj_root)
        .join(Debtor)
        .where(Contact.phone_e164.is_not(None))
        .order_by(Debtor.legal_name, Contact.name)
        .limit(50)
    ).all()
    contacts = [
        {"name": r.name, "phone": r.phone_e164, "debtor": r.legal_name, "cnpj_root": r.cnpj_root}
        for r in rows
    ]
    return TEMPLATES.TemplateResponse(request, "sandbox.html", {"contacts": contacts})
