"""The admin pages (/admin): KPI dashboard, offer-policy editor with preview and history,
settings, users and the audit log. Same staff session and CSRF tokens as the console; every
page needs the admin role."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from server.api.charts import bar_chart
from server.api.console_session import ConsoleDep, ConsoleSession, PostDep
from server.api.deps import ContainerDep, SessionDep
from server.api.policy_form import RULE_PARAMS, STEP_PARAMS, PolicyForm, form_from_policy, parse_policy_form
from server.api.routes.app_settings import Section, all_settings, save_section
from server.api.routes.console import TEMPLATES
from server.api.routes.kpis import csv_response, period_of
from server.api.routes.policy import ladder_view
from server.clock import local_today
from server.db.models import AuditEntry, Debtor, Role, User
from server.domain.admin_settings import WEEKDAY_LABELS, WEEKDAYS, InvalidSettings, field_errors_of
from server.domain.collector_authority import Authority
from server.domain.policy import InvalidPolicy
from server.services import audit, dunning_texts
from server.services.collector_authority import FIELDS as AUTHORITY_FIELDS
from server.services.collector_authority import authority_for, set_authority
from server.services.console_texts import REASON_LABELS
from server.services.kpis import kpi_report, report_csv, segments
from server.services.policy import UnknownVersion, active_policy, publish_policy, roll_back, versions
from server.services.policy_preview import PreviewDebt, debtor_debt
from server.services.user_admin import add_user, list_users, reset_password, set_active
from server.services.users import UserError

router = APIRouter(prefix="/admin", include_in_schema=False)


def _admin(console: ConsoleSession) -> ConsoleSession:
    if console.user.role != Role.ADMIN:
        raise HTTPException(403, "página restrita a administradores")
    return console


def admin_page(console: ConsoleDep) -> ConsoleSession:
    return _admin(console)


def admin_post(console: PostDep) -> ConsoleSession:
    return _admin(console)


AdminPage = Annotated[ConsoleSession, Depends(admin_page)]
AdminPost = Annotated[ConsoleSession, Depends(admin_post)]


def _render(
    request: Request, name: str, admin: ConsoleSession, status: int = 200, **context: Any
) -> Response:
    context.update(user=admin.user, csrf=admin.csrf, section=name.split("/")[-1].removesuffix(".html"))
    context.setdefault("error", None)
    return TEMPLATES.TemplateResponse(request, name, context, status)


def _redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


# --- dashboard ---------------------------------------------------------------------------------


def _day_label(day: date) -> str:
    return day.strftime("%d/%m")


@router.get("", response_class=HTMLResponse)
def dashboard(
    request: Request, session: SessionDep, container: ContainerDep, admin: AdminPage,
    start: date | None = None, end: date | None = None, segment: str | None = None,
) -> Response:  # fmt: skip
    today = local_today(container.clock)
    period = period_of(start, end, today)
    report = kpi_report(session, period, today, segment or None)
    labels = [_day_label(p.day) for p in report.per_day]
    every = max(len(labels) // 10, 1)
    reasons = list(report.handoffs_by_reason.items())
    charts = [
        bar_chart(
            "Acordos por dia (quantidade)", labels, [p.count for p in report.per_day], label_every=every
        ),
        bar_chart(
            "Acordos por dia (valor, R$)",
            labels,
            [p.value for p in report.per_day],
            money=True,
            label_every=every,
        ),
        bar_chart(
            "Transferências para atendente, por motivo",
            [REASON_LABELS.get(r, r) for r, _ in reasons],
            [n for _, (n, _) in reasons],
        ),
        bar_chart(
            "Mensagens no período",
            ["Enviadas", "Recebidas"],
            [report.inputs.messages_sent, report.inputs.messages_received],
        ),
    ]
    if report.dunning.by_step:
        steps = list(report.dunning.by_step.items())
        charts.append(
            bar_chart("Lembretes enviados, por etapa", [k for k, _ in steps], [n for _, n in steps])
        )
    return _render(request, "admin/dashboard.html", admin, r=report, charts=charts, segments=segments(session),
                   segment=segment or "", start=period.start.isoformat(), end=period.end.isoformat(),
                   message_statuses=dunning_texts.MESSAGE_STATUS_LABELS,
                   skip_reasons=dunning_texts.SKIP_REASON_LABELS)  # fmt: skip


@router.get("/kpis.csv")
def export(
    session: SessionDep, container: ContainerDep, admin: AdminPage,
    start: date | None = None, end: date | None = None, segment: str | None = None,
) -> Response:  # fmt: skip
    today = local_today(container.clock)
    period = period_of(start, end, today)
    report = kpi_report(session, period, today, segment or None)
    audit.record(session, admin.user, "export_kpis", "kpis", "csv", container.clock.now(),
                 start=period.start.isoformat(), end=period.end.isoformat(), segment=segment or "")  # fmt: skip
    session.commit()
    return csv_response(report_csv(report), period)


# --- offer policy ------------------------------------------------------------------------------


def _preview_debt(session: SessionDep, form: FormData, today: date) -> tuple[PreviewDebt | None, str | None]:
    debtor_id = str(form.get("debtor_id") or "").strip()
    if debtor_id:
        debt = debtor_debt(session, int(debtor_id), today) if debtor_id.isdigit() else None
        if debt is None:
            return None, "devedor não encontrado"
        if debt.amount <= 0:
            return None, "este devedor não tem faturas vencidas em aberto"
        return debt, None
    amount_raw = str(form.get("amount") or "").strip().replace(".", "").replace(",", ".")
    days_raw = str(form.get("days_overdue") or "").strip()
    try:
        amount = Decimal(amount_raw).quantize(Decimal("0.01"))
        days = int(days_raw)
    except (ArithmeticError, ValueError):
        return None, "informe um valor (R$) e os dias de atraso, ou escolha um devedor"
    if not (Decimal(0) < amount < Decimal("1e12")) or not 1 <= days <= 20000:
        return None, "valor deve ser positivo e dias de atraso entre 1 e 20000"
    return PreviewDebt(amount, days, str(form.get("segment") or "").strip() or None), None


def _policy_page(
    request: Request, session: SessionDep, admin: ConsoleSession, form: PolicyForm, status: int = 200,
    **extra: Any,
) -> Response:  # fmt: skip
    version, _ = active_policy(session)
    debtors = session.execute(
        select(Debtor.id, Debtor.legal_name).order_by(Debtor.legal_name).limit(500)
    ).all()
    history = versions(session)
    session.commit()
    extra.setdefault("preview", None)
    extra.setdefault("preview_input", {})
    return _render(request, "admin/policy.html", admin, status, form=form, active=version, history=history,
                   rule_params=RULE_PARAMS, step_params=STEP_PARAMS, debtors=debtors, **extra)  # fmt: skip


@router.get("/policy", response_class=HTMLResponse)
def policy_page(
    request: Request, session: SessionDep, admin: AdminPage, notice: str | None = None
) -> Response:
    version, _ = active_policy(session)
    return _policy_page(request, session, admin, form_from_policy(version.data), notice=notice)


@router.post("/policy", response_class=HTMLResponse)
async def policy_post(
    request: Request, session: SessionDep, container: ContainerDep, admin: AdminPost
) -> Response:
    """One form, two buttons: preview the draft beside the version in force, or publish it."""
    raw = await request.form()
    form = parse_policy_form({k: str(v) for k, v in raw.items()})
    action = str(raw.get("action") or "preview")
    preview_input = {k: str(raw.get(k) or "") for k in ("amount", "days_overdue", "segment", "debtor_id")}
    if form.policy is None:
        return _policy_page(request, session, admin, form, 422, preview_input=preview_input,
                            error="A política tem valores inválidos: corrija os campos marcados.")  # fmt: skip
    if action == "publish":
        try:
            version = publish_policy(session, form.policy, admin.user.id)
        except InvalidPolicy as exc:  # validated above; kept for safety
            session.rollback()
            return _policy_page(request, session, admin, form, 422, error=str(exc))
        audit.record(session, admin.user, "policy_publish", "policy", version.version, container.clock.now(),
                     changes=len(version.diff or []))  # fmt: skip
        session.commit()
        return _redirect(f"/admin/policy?notice=published-{version.version}")
    today = local_today(container.clock)
    debt, problem = _preview_debt(session, raw, today)
    if debt is None:
        return _policy_page(
            request, session, admin, form, 422, preview_input=preview_input, preview_error=problem
        )
    version, active = active_policy(session)
    preview = {
        "debt": debt,
        "draft": ladder_view(form.policy, debt, today),
        "active": ladder_view(active, debt, today),
        "active_version": version.version,
    }
    return _policy_page(request, session, admin, form, preview=preview, preview_input=preview_input)


@router.post("/policy/versions/{number}/rollback")
def policy_rollback(number: int, session: SessionDep, container: ContainerDep, admin: AdminPost) -> Response:
    try:
        version = roll_back(session, number, admin.user.id)
    except UnknownVersion as exc:
        raise HTTPException(404, "versão não encontrada") from exc
    except InvalidPolicy:
        session.rollback()
        return _redirect("/admin/policy?notice=rollback-invalid")
    audit.record(session, admin.user, "policy_rollback", "policy", version.version, container.clock.now(),
                 restored_from=number)  # fmt: skip
    session.commit()
    return _redirect(f"/admin/policy?notice=restored-{number}-{version.version}")


# --- settings ------------------------------------------------------------------------------------


def _settings_page(
    request: Request, session: SessionDep, container: ContainerDep, admin: ConsoleSession, status: int = 200,
    values: dict[str, Any] | None = None, errors: dict[str, dict[str, str]] | None = None, notice: str | None = None,
) -> Response:  # fmt: skip
    current = all_settings(session, container)
    current["authority"] = {
        k: str(v) for k, v in authority_for(session, None, container.settings).__dict__.items()
    }
    session.commit()
    if values:
        current.update(values)
    return _render(request, "admin/settings.html", admin, status, values=current, errors=errors or {},
                   weekdays=list(zip(WEEKDAYS, WEEKDAY_LABELS, strict=True)), notice=notice,
                   authority_fields=AUTHORITY_FIELDS)  # fmt: skip


@router.get("/settings", response_class=HTMLResponse)
def settings_page(
    request: Request,
    session: SessionDep,
    container: ContainerDep,
    admin: AdminPage,
    notice: str | None = None,
) -> Response:
    return _settings_page(request, session, container, admin, notice=notice)


def _hours_form(form: FormData) -> dict[str, dict[str, str]]:
    return {
        d: {"open": str(form.get(f"{d}.open") or ""), "close": str(form.get(f"{d}.close") or "")}
        for d in WEEKDAYS
    }


def _authority(form: FormData) -> tuple[Authority | None, dict[str, str]]:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name in AUTHORITY_FIELDS:
        raw = str(form.get(name) or "").strip().replace(",", ".")
        try:
            number = Decimal(raw)
            if not number.is_finite() or abs(number) >= Decimal("1e12"):
                raise ValueError
            if name in ("max_installments", "max_first_due_days"):
                if number != number.to_integral_value():
                    raise ValueError
                values[name] = int(number)
            else:
                if number != number.quantize(Decimal("0.01")):
                    errors[name] = "no máximo duas casas decimais"
                values[name] = number
        except (ArithmeticError, ValueError):
            errors[name] = "número inválido"
    if errors:
        return None, errors
    return Authority(**values), {}


@router.post("/settings/{section}", response_class=HTMLResponse)
async def settings_post(
    section: Section | str, request: Request, session: SessionDep, container: ContainerDep, admin: AdminPost
) -> Response:
    raw = await request.form()
    if section == "authority":
        authority, errors = _authority(raw)
        values = {"authority": {k: str(raw.get(k) or "") for k in AUTHORITY_FIELDS}}
        if authority is not None:
            now = container.clock.now()
            try:
                set_authority(session, None, authority, admin.user, now)
            except InvalidPolicy as exc:
                session.rollback()
                errors = field_errors_of(exc)
            else:
                audit.record(session, admin.user, "set_authority", "settings", "global", now,
                             **{k: str(v) for k, v in authority.__dict__.items()})  # fmt: skip
                session.commit()
                return _redirect("/admin/settings?notice=authority")
        return _settings_page(request, session, container, admin, 422, values, {"authority": errors})
    if section not in ("working_hours", "contact_hours", "late_charges", "creditor"):
        raise HTTPException(404, "seção desconhecida")
    data: dict[str, Any]
    if section in ("working_hours", "contact_hours"):
        data = _hours_form(raw)
    else:
        data = {k: str(v) for k, v in raw.items() if k != "csrf_token"}
    try:
        save_section(session, container, admin.user, section, data)  # type: ignore[arg-type]
    except InvalidSettings as exc:
        return _settings_page(request, session, container, admin, 422, {section: data},
                              {section: field_errors_of(exc)})  # fmt: skip
    return _redirect(f"/admin/settings?notice={section}")


# --- users -----------------------------------------------------------------------------------------


def _users_page(
    request: Request, session: SessionDep, admin: ConsoleSession, status: int = 200, **extra: Any
) -> Response:
    return _render(request, "admin/users.html", admin, status, users=list_users(session), **extra)


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request, session: SessionDep, admin: AdminPage, notice: str | None = None
) -> Response:
    return _users_page(request, session, admin, notice=notice)


@router.post("/users", response_class=HTMLResponse)
def users_create(
    request: Request, session: SessionDep, container: ContainerDep, admin: AdminPost,
    email: Annotated[str, Form(max_length=254)] = "", name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "collector", password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:  # fmt: skip
    try:
        add_user(session, admin.user, email, password, role, name, container.clock.now())
    except UserError as exc:
        session.rollback()
        return _users_page(
            request, session, admin, 422, error=str(exc), draft={"email": email, "name": name, "role": role}
        )
    session.commit()
    return _redirect("/admin/users?notice=created")


def _target(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, "usuário não encontrado")
    return user


@router.post("/users/{user_id}/active", response_class=HTMLResponse)
def users_active(
    user_id: int, request: Request, session: SessionDep, container: ContainerDep, admin: AdminPost,
    active: Annotated[str, Form(max_length=5)] = "0",
) -> Response:  # fmt: skip
    try:
        set_active(session, admin.user, _target(session, user_id), active == "1", container.clock.now())
    except UserError as exc:
        session.rollback()
        return _users_page(request, session, admin, 422, error=str(exc))
    session.commit()
    return _redirect("/admin/users?notice=" + ("enabled" if active == "1" else "disabled"))


@router.post("/users/{user_id}/password", response_class=HTMLResponse)
def users_password(
    user_id: int, request: Request, session: SessionDep, container: ContainerDep, admin: AdminPost,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:  # fmt: skip
    try:
        reset_password(session, admin.user, _target(session, user_id), password, container.clock.now())
    except UserError as exc:
        session.rollback()
        return _users_page(request, session, admin, 422, error=str(exc))
    session.commit()
    return _redirect("/admin/users?notice=password")


# --- audit log -------------------------------------------------------------------------------------

AUDIT_GROUPS = {
    "policy": ("policy_publish", "policy_rollback"),
    "agreements": ("agreement",),
    "logins": ("login", "login_failed"),
    "exports": ("export_kpis",),
    "users": ("create_user", "disable_user", "enable_user", "reset_password"),
    "settings": (
        "set_authority",
        "set_working_hours",
        "set_contact_hours",
        "set_late_charges",
        "set_creditor",
    ),
}


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, session: SessionDep, admin: AdminPage, group: str = "", page: int = 1
) -> Response:
    page = max(page, 1)
    stmt = select(AuditEntry, User.email).outerjoin(User, AuditEntry.user_id == User.id)
    if group in AUDIT_GROUPS:
        stmt = stmt.where(AuditEntry.action.in_(AUDIT_GROUPS[group]))
    rows = session.execute(stmt.order_by(AuditEntry.id.desc()).offset((page - 1) * 100).limit(101)).all()
    return _render(request, "admin/audit.html", admin, entries=rows[:100], more=len(rows) > 100, page=page,
                   group=group, groups=AUDIT_GROUPS)  # fmt: skip
