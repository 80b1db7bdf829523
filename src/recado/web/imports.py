"""Importing a CSV file from the browser: upload, a progress bar that htmx polls, the report.

The upload is saved to a temporary file and imported by a background task of this process,
which records its progress in an `ImportJob`; the progress element asks for it every second.
Jobs live in memory: a restart forgets them (the contacts imported so far stay imported).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from recado.api.deps import get_platform
from recado.api.imports import MAX_UPLOAD_BYTES
from recado.domain.roles import Permission
from recado.errors import NotFound, RecadoError, ValidationFailed
from recado.platform import Platform
from recado.services import imports
from recado.services.actor import Actor
from recado.services.consent import SOURCES
from recado.services.imports import ImportReport
from recado.web.contacts import list_choices
from recado.web.rendering import PREFIX, WebRoute, redirect, render
from recado.web.session import CurrentUser, DbSession

log = logging.getLogger(__name__)
router = APIRouter(prefix=f"{PREFIX}/contacts", route_class=WebRoute)

KEEP_JOBS = 50  # finished jobs remembered per process, for their report pages


@dataclass
class ImportJob:
    id: str
    workspace_id: str
    filename: str
    done: int = 0
    total: int | None = None
    report: ImportReport | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.report is not None or self.error is not None

    @property
    def percent(self) -> int:
        if self.finished:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    def progress(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total


def _jobs(request: Request) -> dict[str, ImportJob]:
    jobs: dict[str, ImportJob] | None = getattr(request.app.state, "web_import_jobs", None)
    if jobs is None:
        jobs = request.app.state.web_import_jobs = {}
    return jobs


@router.get("/import")
async def import_form(request: Request, session: DbSession, me: CurrentUser) -> Response:
    me.actor.require(Permission.MANAGE_AUDIENCE)
    choices = await list_choices(session, me.actor)
    return render(
        request,
        "import.html",
        lists=choices,
        sources=sorted(SOURCES),
        max_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
    )


@router.post("/import")
async def start_import(request: Request, me: CurrentUser) -> Response:
    me.actor.require(Permission.MANAGE_AUDIENCE)
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValidationFailed("Choose a CSV file to import.", field="file")
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise ValidationFailed(
            f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it or import "
            "it from the command line.",
            field="file",
        )
    list_id = _text(form.get("list_id"))
    consent_text = _text(form.get("consent_text"))
    consent = (
        imports.ImportConsent(consent_text, _text(form.get("consent_source")) or "import")
        if consent_text
        else None
    )
    if list_id and consent is None:
        raise ValidationFailed(
            "Importing into a list subscribes people to marketing: write how they opted in.",
            field="consent_text",
        )
    path = await run_in_threadpool(_save, upload)
    job = ImportJob(
        id=secrets.token_urlsafe(12), workspace_id=me.actor.workspace_id, filename=upload.filename
    )
    jobs = _jobs(request)
    _forget_old(jobs)
    jobs[job.id] = job
    job.task = asyncio.create_task(
        _run(job, get_platform(request), me.actor, path, list_id, consent),
        name=f"web-import-{job.id}",
    )
    return redirect(f"{PREFIX}/contacts/imports/{job.id}")


@router.get("/imports/{job_id}")
async def import_page(request: Request, me: CurrentUser, job_id: str) -> Response:
    return render(request, "import_job.html", job=_job(request, me.actor, job_id))


@router.get("/imports/{job_id}/progress")
async def import_progress(request: Request, me: CurrentUser, job_id: str) -> Response:
    """The progress element alone; it stops asking once the report is in."""
    return render(request, "_import_progress.html", job=_job(request, me.actor, job_id))


def _job(request: Request, actor: Actor, job_id: str) -> ImportJob:
    job = _jobs(request).get(job_id)
    if job is None or job.workspace_id != actor.workspace_id:
        raise NotFound("No such import: the server may have restarted since it ran.")
    return job


async def _run(
    job: ImportJob,
    platform: Platform,
    actor: Actor,
    path: Path,
    list_id: str | None,
    consent: imports.ImportConsent | None,
) -> None:
    try:
        async with platform.sessions() as session:
            job.report = await imports.import_contacts(
                session, actor, path, list_id=list_id, consent=consent, on_progress=job.progress
            )
    except RecadoError as exc:
        job.error = exc.message
    except Exception:
        log.exception("web import %s failed", job.id)
        job.error = "The import stopped on an unexpected error; it has been logged."
    finally:
        await run_in_threadpool(_remove, path)


def _save(upload: UploadFile) -> Path:
    with tempfile.NamedTemporaryFile(prefix="recado-import-", suffix=".csv", delete=False) as out:
        upload.file.seek(0)
        shutil.copyfileobj(upload.file, out)
        return Path(out.name)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _forget_old(jobs: dict[str, ImportJob]) -> None:
    finished = [key for key, job in jobs.items() if job.finished]
    for key in finished[: max(0, len(finished) - KEEP_JOBS)]:
        del jobs[key]


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None
