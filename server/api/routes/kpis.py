"""KPIs: the figures as JSON and as a CSV export (exports are audit-logged)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from server.api.deps import AdminUser, ContainerDep, SessionDep
from server.clock import local_today
from server.domain.kpis import Period, report_to_dict
from server.services import audit
from server.services.kpis import kpi_report, report_csv

router = APIRouter(prefix="/api/kpis", tags=["kpis"])

DEFAULT_DAYS = 30


def period_of(start: date | None, end: date | None, today: date) -> Period:
    """Default: the 30 days ending today. Bad ranges are a 422, never a 500."""
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    try:
        return Period(start, end)
    except ValueError as exc:
        raise HTTPException(422, [{"field": "end", "message": str(exc)}]) from exc


Start = Annotated[date | None, Query(description="primeiro dia (AAAA-MM-DD)")]
End = Annotated[date | None, Query(description="último dia, inclusive")]
Segment = Annotated[str | None, Query(max_length=80)]


@router.get("")
def get_kpis(
    session: SessionDep, container: ContainerDep, admin: AdminUser,
    start: Start = None, end: End = None, segment: Segment = None,
) -> dict[str, Any]:  # fmt: skip
    today = local_today(container.clock)
    return report_to_dict(kpi_report(session, period_of(start, end, today), today, segment or None))


def csv_response(body: str, period: Period) -> Response:
    name = f"kpis-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return Response(
        "\ufeff" + body,  # BOM: Excel opens UTF-8 correctly
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/export.csv")
def export_kpis(
    session: SessionDep, container: ContainerDep, admin: AdminUser,
    start: Start = None, end: End = None, segment: Segment = None,
) -> Response:  # fmt: skip
    today = local_today(container.clock)
    period = period_of(start, end, today)
    report = kpi_report(session, period, today, segment or None)
    audit.record(session, admin, "export_kpis", "kpis", "csv", container.clock.now(),
                 start=period.start.isoformat(), end=period.end.isoformat(), segment=segment or "")  # fmt: skip
    session.commit()
    return csv_response(report_csv(report), period)
