"""/v1/documents: add (JSON or file upload), list, get and delete documents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from assistant.api.deps import ReadAccess, ServiceDep, WriteAccess
from assistant.api.schemas import (
    Deleted,
    DocumentBatch,
    DocumentList,
    DocumentOut,
    DocumentsBody,
    DocumentSummary,
    Error,
    IngestResult,
)
from assistant.errors import SourceError
from assistant.models import Document, FactCheck, IngestReport
from assistant.text import fallback_title

router = APIRouter(prefix="/v1/documents", tags=["documents"])


def ingest_result(report: IngestReport) -> JSONResponse:
    """A write's result: 201, or 422 when every item was bad and nothing was written."""
    body = IngestResult(
        added=report.written, skipped=report.skipped, chunks=report.chunks, generation=report.generation,
        fact_checks=report.fact_checks,
        errors=report.error_dicts())
    # All bad: nothing was written, and the status says so.
    wrote = report.documents or report.fact_checks or report.skipped
    status = 422 if report.errors and not wrote else 201
    return JSONResponse(body.model_dump(), status_code=status)


def _summary(d: Document) -> DocumentSummary:
    return DocumentSummary(doc_id=d.doc_id, source=d.source,
                           title=d.title or fallback_title(d.text), publisher=d.publisher,
                           author=d.author, url=d.url, published=d.published, chars=len(d.text))


async def batch_within_limit(request: Request, service: ServiceDep) -> None:
    """Say that a batch is over the limit before each of its documents is validated (a
    dependency runs before the body's fields are checked)."""
    body = await request.json()  # already parsed, and valid JSON, by the time this runs
    if isinstance(body, dict) and isinstance(body.get("documents"), list):
        service.check_batch(len(body["documents"]))


@router.post("", status_code=201, response_model=IngestResult, summary="Add documents (JSON)",
             responses={401: {"model": Error}, 403: {"model": Error}, 422: {"model": Error}})
async def add_documents(body: DocumentsBody, service: ServiceDep, _: WriteAccess,
                        __: Annotated[None, Depends(batch_within_limit)]) -> JSONResponse:
    """One document, or `{"documents": [...]}` (at most ASSISTANT_MAX_BATCH_DOCUMENTS); all
    become searchable together, at once. A document whose id exists is replaced; an unchanged
    one is skipped."""
    records = body.documents if isinstance(body, DocumentBatch) else [body]
    items: list[Document | SourceError] = []
    for n, rec in enumerate(records):
        try:
            items.append(service.document(rec.model_dump(), source=rec.url or rec.id))
        except SourceError as exc:
            exc.line = n if isinstance(body, DocumentBatch) else None
            items.append(exc)
    report = await run_in_threadpool(service.add_documents, items)
    return ingest_result(report)


@router.post("/upload", status_code=201, response_model=IngestResult,
             summary="Add documents from files (.txt .md .html .jsonl; ClaimReview .jsonld)",
             responses={401: {"model": Error}, 403: {"model": Error}, 422: {"model": Error}})
async def upload_documents(files: Annotated[list[UploadFile], File(description="Files to add.")],
                           service: ServiceDep, _: WriteAccess) -> JSONResponse:
    """Files are read exactly as `assistant ingest` reads them; a file's doc id is its name.
    Published fact-checks (schema.org ClaimReview JSON-LD in .jsonld/.json files or in .html
    pages) are stored for matching new claims against."""
    service.check_upload(len(files))
    items: list[Document | FactCheck | SourceError] = []
    for f in files:
        data = await f.read()
        items.extend(service.read_upload(f.filename or "", data))
    report = await run_in_threadpool(service.add_documents, items)
    return ingest_result(report)


@router.get("", response_model=DocumentList, summary="List documents")
async def list_documents(service: ServiceDep, _: ReadAccess,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                         offset: Annotated[int, Query(ge=0, le=2**62)] = 0) -> DocumentList:
    """Documents by id, a page at a time (without their text)."""
    total, docs = await run_in_threadpool(service.list_documents, limit=limit, offset=offset)
    return DocumentList(total=total, limit=limit, offset=offset,
                        documents=[_summary(d) for d in docs])


@router.get("/{doc_id:path}", response_model=DocumentOut, summary="Get one document",
            responses={404: {"model": Error}})
async def get_document(doc_id: str, service: ServiceDep, _: ReadAccess) -> DocumentOut:
    """A stored document with its full text (the text every offset refers to)."""
    doc = await run_in_threadpool(service.get_document, doc_id)
    if doc is None:
        raise HTTPException(404, f"no document with id {doc_id!r}")
    return DocumentOut(**_summary(doc).model_dump(), text=doc.text, content_hash=doc.content_hash)


@router.delete("/{doc_id:path}", response_model=Deleted, summary="Delete one document",
               responses={401: {"model": Error}, 403: {"model": Error}, 404: {"model": Error}})
async def delete_document(doc_id: str, service: ServiceDep, _: WriteAccess) -> Deleted:
    """Removes the document from the store, BM25 and vectors, in one atomic switch."""
    removed, missing = await run_in_threadpool(service.delete_documents, [doc_id])
    if missing:
        raise HTTPException(404, f"no document with id {doc_id!r}")
    return Deleted(removed=removed)
