"""/v1/tools: helpers for people writing messages (segments and encoding before sending)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from recado.api.deps import CurrentActor
from recado.domain.encoding import analyze
from recado.domain.roles import Permission

router = APIRouter(prefix="/v1/tools", tags=["tools"])


class SegmentsIn(BaseModel):
    """A text to measure."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=10_000, description="The message text")
    smart: bool = Field(
        default=False,
        description="Replace curly quotes, dashes and the like with GSM-7 look-alikes",
    )


@router.post(
    "/segments",
    summary="Count the parts, encoding and characters of a text",
    description="The same computation that decides what goes on the wire. `non_gsm` lists the "
    "characters that forced UCS-2; with `smart`, `smart.replacements` says what was replaced.",
)
async def segments(payload: SegmentsIn, actor: CurrentActor) -> dict[str, Any]:
    actor.require(Permission.READ)
    return analyze(payload.text, smart=payload.smart).to_dict()
