"""Inbound attachments for staff: the bearer-token API and the console (cookie session) link.

Files are what debtors sent, so they are served as inert downloads: the declared (allow-listed)
type, ``nosniff`` and a sandboxing Content-Security-Policy, never as a page of our origin.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from server.api.console_session import ConsoleDep
from server.api.deps import ContainerDep, SessionDep, StaffUser
from server.container import Container
from server.services.media_files import MediaNotFound, stored_file

api_router = APIRouter(prefix="/api/conversations", tags=["conversations"])
console_router = APIRouter(prefix="/console/conversations", include_in_schema=False)

_INLINE = ("image/", "audio/", "application/pdf")


def _serve(
    container: Container, session: SessionDep, public_id: str, message_id: int, index: int
) -> FileResponse:
    try:
        found = stored_file(session, container.media.store, public_id, message_id, index)
    except MediaNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    disposition = "inline" if found.content_type.startswith(_INLINE) else "attachment"
    return FileResponse(
        found.path,
        media_type=found.content_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(found.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, max-age=300",
        },
    )


@api_router.get("/{public_id}/media/{message_id}/{index}", response_class=FileResponse)
def api_media(
    public_id: str, message_id: int, index: int, session: SessionDep, container: ContainerDep, user: StaffUser
) -> FileResponse:
    """Attachment ``index`` of an inbound message (a receipt, a PDF, a voice note), as stored."""
    return _serve(container, session, public_id, message_id, index)


@console_router.get("/{public_id}/media/{message_id}/{index}")
def console_media(
    public_id: str,
    message_id: int,
    index: int,
    session: SessionDep,
    container: ContainerDep,
    console: ConsoleDep,
) -> FileResponse:
    return _serve(container, session, public_id, message_id, index)
