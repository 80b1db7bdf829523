"""/v1/simulator: play a handset against the built-in carrier simulator."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from recado.api.deps import CurrentActor, Session, get_platform
from recado.api.messages import MessageOut
from recado.carriers.simulator import SimulatorConnector
from recado.errors import Conflict
from recado.platform import Platform
from recado.services import inbound

router = APIRouter(prefix="/v1/simulator", tags=["simulator"])


class SimulatedTextIn(BaseModel):
    """A text a simulated handset sends to one of the workspace's numbers."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: str = Field(alias="from", description="The handset's number, e.g. +5511912345678")
    to: str = Field(description="A sender (number) of this workspace")
    body: str = Field(min_length=1, max_length=1600, description="The text")


@router.post(
    "/inbound",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    response_model_by_alias=True,
    summary="Simulate an inbound text",
    description="The simulator delivers the text as a carrier would: it is stored as a "
    "`received` message on its contact and classified (keywords, surveys, inbox). Only "
    "while the carrier simulator is the connected carrier.",
)
async def simulate_inbound(
    payload: SimulatedTextIn, request: Request, session: Session, actor: CurrentActor
) -> MessageOut:
    sender = await inbound.check_simulated_text(
        session, actor, sender=payload.from_, recipient=payload.to
    )
    platform = get_platform(request)
    simulator = _running_simulator(platform)
    carrier_id = await simulator.inject_inbound(sender, payload.to.strip(), payload.body)
    platform.dispatcher.notify()  # a stage may have queued an auto-reply
    message = await inbound.received_message(session, actor, simulator.name, carrier_id)
    return MessageOut.of(message)


def _running_simulator(platform: Platform) -> SimulatorConnector:
    for connector in platform.connectors.values():
        if isinstance(connector, SimulatorConnector) and connector.connected:
            return connector
    raise Conflict(
        "The carrier simulator is not running here: this Recado sends through a real "
        "carrier, or its workers are not started. Send a real text to the number instead.",
        code="simulator_not_running",
    )
