"""POST /v1/check: claims against the sources, with stance, corroboration and a verdict."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from assistant.api.deps import ComputeDep, ReadAccess, ServiceDep
from assistant.api.schemas import CheckRequest, ClaimReviewRequest, Error
from assistant.errors import QueryError
from assistant.models import TextVerdicts, Verdict

router = APIRouter(prefix="/v1", tags=["claims"])


@router.post("/check", response_model=Verdict | TextVerdicts,
             summary="Check a claim or a paragraph", responses={422: {"model": Error}})
async def check(body: CheckRequest, service: ServiceDep, compute: ComputeDep,
                _: ReadAccess) -> Verdict | TextVerdicts:
    """`{"claim": ...}` gives one Verdict: every sentence in the sources that bears on the claim,
    quoted verbatim with its stance and citation, sources for and against (near-duplicates
    counted once), earlier published fact-checks first. `{"text": ...}` splits a paragraph into
    check-worthy sentences (facts, not opinions or questions) and gives a Verdict for each."""
    filters = body.core_filters()
    if body.claim is not None:
        return await compute(service.check, body.claim, filters=filters)
    return await compute(service.check_text, body.text or "", filters=filters)


@router.post("/check/claimreview", response_model=dict[str, Any],
             summary="Check a claim and export it as ClaimReview JSON-LD",
             responses={422: {"model": Error}})
async def check_claimreview(
    body: ClaimReviewRequest, service: ServiceDep, compute: ComputeDep, _: ReadAccess,
    url: str = Query("", max_length=2000, description="Where the fact-check will be published."),
) -> dict[str, Any]:
    """The finished check as schema.org ClaimReview JSON-LD, ready to publish: the verdict as
    its rating, the supporting and refuting quotes as its citations."""
    if body.claim is None:
        raise QueryError("ClaimReview export takes one `claim`, not `text`")
    return await compute(service.claimreview, body.claim, url=url,
                         filters=body.core_filters(), editor=body.editor)
