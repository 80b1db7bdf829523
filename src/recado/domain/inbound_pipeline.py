"""The order in which an inbound text is classified, as a list of named stages.

Every text is stored before the pipeline runs. Each stage looks at it and either handles it
(`Handled`, optionally with an auto-reply) or passes (None) to the next one. The built-in
order is: opt-out / opt-in / help keywords, the workspace's keywords, a survey or automation
waiting for a reply, and the conversation inbox, which takes whatever is left.

A feature fills in a stage by registering it, never by editing a switch:

    PIPELINE.register(Stage(OPT_OUT_KEYWORDS, handle_opt_out))            # fills a placeholder
    PIPELINE.register(Stage("birthday_club", handle), after=WORKSPACE_KEYWORDS)  # a new stage

A stage that raises does not stop the others: `Pipeline.run` records the failure and goes
on, so a bug in one feature never costs a person's text its place in the inbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

OPT_OUT_KEYWORDS = "opt_out_keywords"
WORKSPACE_KEYWORDS = "workspace_keywords"
WAITING_CONVERSATION = "waiting_conversation"
INBOX = "inbox"

C = TypeVar("C")


@dataclass(frozen=True)
class InboundText:
    """What the stored inbound message says, as plain values every stage can read."""

    message_id: str
    workspace_id: str
    contact_id: str | None  # None when the sender is not a phone number (a short code, a name)
    sender: str  # the person: E.164 when it parsed as a phone number
    recipient: str  # the workspace's number the text was sent to
    body: str
    connector: str
    received_at: datetime
    # What the compliance step did when the text was stored (in the same transaction):
    # opted_out, opted_in, confirmed, help, flagged; None for an ordinary text.
    compliance_action: str | None = None
    compliance_language: str | None = None  # the keyword's language, for the reply


@dataclass(frozen=True)
class Handled:
    """A stage took the text. `reply` is sent back to the person as a transactional text."""

    by: str
    reply: str | None = None
    # "compliance" replies (STOP confirmations) reach even a number that just opted out.
    reply_category: str = "transactional"


StageHandler = Callable[[C], Awaitable[Handled | None]]


@dataclass(frozen=True)
class Stage(Generic[C]):
    """One step of the pipeline: a unique name and the handler that may take the text."""

    name: str
    handler: StageHandler[C]


@dataclass(frozen=True)
class StageFailure:
    stage: str
    error: Exception


@dataclass(frozen=True)
class Outcome:
    """What the pipeline did: the stage that handled the text (if any) and the ones that failed."""

    handled: Handled | None
    failures: tuple[StageFailure, ...] = ()


class Pipeline(Generic[C]):
    """Stages in the order they are tried."""

    def __init__(self, stages: Iterable[Stage[C]] = ()) -> None:
        self._stages: list[Stage[C]] = []
        for stage in stages:
            self.register(stage)

    @property
    def stages(self) -> tuple[Stage[C], ...]:
        return tuple(self._stages)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self._stages)

    def register(
        self, stage: Stage[C], *, before: str | None = None, after: str | None = None
    ) -> None:
        """Add `stage`, or replace the stage of the same name where it stands.

        A new stage goes right before `before` or right after `after`; with neither, at the
        end, or just before the inbox when there is one (the inbox takes every text).
        """
        if before is not None and after is not None:
            raise ValueError("Give `before` or `after`, not both.")
        names = self.names
        if stage.name in names:
            if before is not None or after is not None:
                raise ValueError(f"Stage '{stage.name}' exists; it is replaced where it stands.")
            self._stages[names.index(stage.name)] = stage
            return
        anchor = before or after
        if anchor is not None and anchor not in names:
            raise ValueError(f"No stage '{anchor}'; the stages are: {', '.join(names)}.")
        if before is not None:
            position = names.index(before)
        elif after is not None:
            position = names.index(after) + 1
        elif INBOX in names:
            position = names.index(INBOX)
        else:
            position = len(names)
        self._stages.insert(position, stage)

    def unregister(self, name: str) -> None:
        self._stages = [stage for stage in self._stages if stage.name != name]

    def copy(self) -> Pipeline[C]:
        return Pipeline(self._stages)

    async def run(
        self,
        context: C,
        *,
        on_failure: Callable[[StageFailure], Awaitable[None]] | None = None,
    ) -> Outcome:
        """Try each stage in order until one handles the text.

        A stage that raises is recorded, reported to `on_failure` (where the caller logs it
        and discards the stage's unfinished work), and the next stage runs.
        """
        failures: list[StageFailure] = []
        for stage in self._stages:
            try:
                result = await stage.handler(context)
            except Exception as error:  # a bug in one stage must not lose the text
                failure = StageFailure(stage.name, error)
                failures.append(failure)
                if on_failure is not None:
                    await on_failure(failure)
                continue
            if result is not None:
                return Outcome(result, tuple(failures))
        return Outcome(None, tuple(failures))


async def opt_out_keywords(context: object) -> Handled | None:
    """STOP, START, HELP and their equivalents in English, Portuguese and Spanish.

    To come (compliance): record the contact's opt-out or opt-in, answer with the
    workspace's confirmation or help text, and handle the text. For now it passes.
    """
    return None


async def workspace_keywords(context: object) -> Handled | None:
    """Keywords the workspace defined (JOIN, PROMO...): add to a list, reply, start a flow.

    To come (keywords): match the text against the workspace's keyword rules. For now it
    passes.
    """
    return None


async def waiting_conversation(context: object) -> Handled | None:
    """A survey question or automation step of this contact that waits for an answer.

    To come (surveys, automations): hand the text to it as the answer. For now it passes.
    """
    return None


async def inbox(context: object) -> Handled | None:
    """The conversation inbox: the default. The text stays there for a person to answer."""
    return Handled(by=INBOX)


def default_stages() -> list[Stage[Any]]:
    """The built-in order: compliance first, always; the inbox last, for what is left.

    The placeholders read nothing, so they suit any context type.
    """
    return [
        Stage(OPT_OUT_KEYWORDS, opt_out_keywords),
        Stage(WORKSPACE_KEYWORDS, workspace_keywords),
        Stage(WAITING_CONVERSATION, waiting_conversation),
        Stage(INBOX, inbox),
    ]
