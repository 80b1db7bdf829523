"""Saved segments: audience filters a marketer names, counts while editing, and sends to.

A segment's definition (recado.domain.segments) becomes SQL over `contacts`, scoped to the
workspace, in one query: attributes are read from the contact's JSON alike on SQLite and
PostgreSQL; lists, tags and engagement come from their own tables, as EXISTS probes for
callers that walk contacts (`condition`, `contact_filter`: campaigns, pages) or as joined
sets of contact ids for whole counts (`count_query`); see `_Builder`. Other saved segments
named in a definition are inlined.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Select,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.expression import FromClause, Subquery

from recado.db.pages import page_by_id
from recado.db.tables import (
    Click,
    Contact,
    ContactEvent,
    ContactList,
    ContactTag,
    ListMember,
    Message,
    Segment,
    utcnow,
)
from recado.domain import segments as domain
from recado.domain.roles import Permission
from recado.domain.segments import (
    Attribute,
    AttributeOp,
    Condition,
    Consent,
    ConsentState,
    Created,
    CreatedOp,
    Definition,
    Engagement,
    EngagementOp,
    Group,
    HasTag,
    InList,
    InSegment,
    Match,
)
from recado.errors import Conflict, NotFound, ValidationFailed
from recado.ids import new_id
from recado.services.actor import Actor
from recado.services.contacts import (
    UNSET,
    ContactDetails,
    Unset,
    check_cursor,
    contact_details,
    looks_like_id,
    single_line,
)

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_REFERENCED = 20  # saved segments one definition reaches, directly or through others
CONVERSION_EVENT = "order.placed"  # what converted_within_days counts (POST /v1/events)


# --- saved segments --------------------------------------------------------------------------


async def create_segment(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    definition: Any,
    description: str | None = None,
) -> Segment:
    """Save a definition under a name unique in the workspace. `definition` is decoded JSON."""
    actor.require(Permission.MANAGE_AUDIENCE)
    name, description = _name(name), _description(description)
    parsed = domain.parse_definition(definition)
    await _check_references(session, actor.workspace_id, parsed)
    await _check_name_free(session, actor, name)
    now = utcnow()
    segment = Segment(
        id=new_id("seg"),
        workspace_id=actor.workspace_id,
        name=name,
        description=description,
        definition=definition,
        created_at=now,
        updated_at=now,
    )
    session.add(segment)
    await _commit(session, name)
    return segment


async def get_segment(session: AsyncSession, actor: Actor, segment_id: str) -> Segment:
    actor.require(Permission.READ)
    return await _get(session, actor.workspace_id, segment_id)


async def list_segments(
    session: AsyncSession, actor: Actor, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[Segment], str | None]:
    """Newest first; `cursor` is the id of the last segment of the previous page."""
    actor.require(Permission.READ)
    query = select(Segment).where(Segment.workspace_id == actor.workspace_id)
    return await page_by_id(
        session, query, Segment.id, limit=limit, cursor=cursor and check_cursor(cursor)
    )


async def update_segment(
    session: AsyncSession,
    actor: Actor,
    segment_id: str,
    *,
    name: str | Unset = UNSET,
    description: str | None | Unset = UNSET,
    definition: Any | Unset = UNSET,
) -> Segment:
    """Change the fields given; the others stay as they are."""
    actor.require(Permission.MANAGE_AUDIENCE)
    segment = await _get(session, actor.workspace_id, segment_id)
    new_name = segment.name if name is UNSET else _name(name)
    new_description = segment.description if description is UNSET else _description(description)
    if definition is not UNSET:
        parsed = domain.parse_definition(definition)
        await _check_references(session, actor.workspace_id, parsed, own_id=segment.id)
    if new_name != segment.name:
        await _check_name_free(session, actor, new_name)
    segment.name, segment.description = new_name, new_description
    if definition is not UNSET:
        segment.definition = definition
    segment.updated_at = utcnow()
    await _commit(session, new_name)
    return segment


async def delete_segment(session: AsyncSession, actor: Actor, segment_id: str) -> None:
    """Delete a segment; one that another segment refers to is a Conflict naming that one."""
    actor.require(Permission.MANAGE_AUDIENCE)
    segment = await _get(session, actor.workspace_id, segment_id)
    others = await session.execute(
        select(Segment.id, Segment.name, Segment.definition).where(
            Segment.workspace_id == actor.workspace_id, Segment.id != segment.id
        )
    )
    for other_id, other_name, raw in others:
        if segment.id in domain.segment_ids(domain.parse_definition(raw)):
            raise Conflict(
                f"The segment '{other_name}' ({other_id}) uses this segment; remove it from "
                "that definition first."
            )
    await session.execute(
        delete(Segment).where(Segment.workspace_id == actor.workspace_id, Segment.id == segment.id)
    )
    await session.commit()


# --- who is in a segment ---------------------------------------------------------------------


async def count(session: AsyncSession, actor: Actor, definition: Definition, now: datetime) -> int:
    """How many contacts of the workspace match `definition` (saved or not) at `now`."""
    actor.require(Permission.READ)
    resolved = await _check_references(session, actor.workspace_id, definition)
    query = count_query(
        actor.workspace_id, definition, now, dialect=_dialect(session), resolve=resolved
    )
    return int(await session.scalar(query) or 0)


async def count_saved(session: AsyncSession, actor: Actor, segment_id: str, now: datetime) -> int:
    actor.require(Permission.READ)
    segment = await _get(session, actor.workspace_id, segment_id)
    return await count(session, actor, domain.parse_definition(segment.definition), now)


async def list_contacts(
    session: AsyncSession,
    actor: Actor,
    segment_id: str,
    now: datetime,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[ContactDetails], str | None]:
    """The segment's contacts, newest first; `cursor` is the id of the last one shown."""
    actor.require(Permission.READ)
    where = await contact_filter(session, actor.workspace_id, segment_id, now)
    rows, next_cursor = await page_by_id(
        session,
        select(Contact).where(where),
        Contact.id,
        limit=limit,
        cursor=cursor and check_cursor(cursor),
    )
    return await contact_details(session, actor.workspace_id, rows), next_cursor


async def contact_filter(
    session: AsyncSession, workspace_id: str, segment_id: str, now: datetime
) -> ColumnElement[bool]:
    """The WHERE clause over `Contact` that selects a saved segment's contacts at `now`
    (the workspace included). An unknown id is NotFound."""
    segment = await _get(session, workspace_id, segment_id)
    definition = domain.parse_definition(segment.definition)
    resolved = await _resolve(session, workspace_id, definition)
    return condition(
        workspace_id,
        definition,
        now,
        dialect=_dialect(session),
        resolve=resolved,
        own_id=segment.id,
    )


def condition(
    workspace_id: str,
    definition: Definition,
    now: datetime,
    *,
    dialect: str,
    resolve: Mapping[str, Definition],
    own_id: str | None = None,
) -> ColumnElement[bool]:
    """The WHERE clause over `Contact` for `definition` at `now` (timezone-aware), scoped to
    the workspace. `resolve` gives the definition of every saved segment it refers to
    (`_resolve` loads them); `dialect` is the session's ("sqlite" or "postgresql"), since
    JSON attributes are spelled differently on each."""
    builder = _Builder(workspace_id, now, dialect, resolve)
    stack = (own_id,) if own_id else ()
    in_workspace = Contact.workspace_id == workspace_id
    if dialect == "sqlite":
        # Callers walk these contacts by id; SQLite, without statistics, would read the whole
        # workspace by its (workspace_id, ...) index and sort it for every page instead.
        in_workspace = func.coalesce(Contact.workspace_id, "") == workspace_id
    return and_(in_workspace, builder.definition(definition, stack))


def count_query(
    workspace_id: str,
    definition: Definition,
    now: datetime,
    *,
    dialect: str,
    resolve: Mapping[str, Definition],
) -> Select[int]:
    """SELECT count(*) of the contacts `definition` selects, in the shape for whole sets
    (see `_Builder`); same arguments as `condition`."""
    joins: dict[Any, Subquery] = {}
    where = _Builder(workspace_id, now, dialect, resolve, joins).definition(definition, ())
    contacts: FromClause = Contact.__table__  # type: ignore[assignment]
    for ids in joins.values():
        contacts = contacts.outerjoin(ids, ids.c.contact_id == Contact.id)
    query = select(func.count()).select_from(contacts)
    return query.where(Contact.workspace_id == workspace_id, where)


class _Builder:
    """Turns a definition into SQL, in one of two shapes with the same answers.

    Row by row (the default): each list, tag or engagement condition is an EXISTS probe of
    its index for the contact at hand, so a caller walking contacts in id order (campaign
    chunks, pages) pays only for the rows it reads. As sets (`joins` given, for counts):
    each is a subquery of contact ids, LEFT JOINed once and hashed, so a count over a
    million contacts reads each table once even under OR and exclusions, where PostgreSQL
    cannot turn EXISTS probes into joins."""

    def __init__(
        self,
        workspace_id: str,
        now: datetime,
        dialect: str,
        resolve: Mapping[str, Definition],
        joins: dict[Any, Subquery] | None = None,
    ) -> None:
        if now.tzinfo is None:
            raise ValueError("segments are evaluated at a timezone-aware time")
        self.workspace_id, self.now, self.dialect = workspace_id, now, dialect
        self.resolve, self.joins = resolve, joins

    def definition(self, definition: Definition, stack: tuple[str, ...]) -> ColumnElement[bool]:
        where = [self.combined(definition.match, definition.conditions, stack)]
        if definition.exclude:
            where.append(not_(or_(*(self.one(c, stack) for c in definition.exclude))))
        return and_(*where)

    def combined(
        self, match: Match, conditions: tuple[Condition, ...], stack: tuple[str, ...]
    ) -> ColumnElement[bool]:
        if not conditions:
            return true()  # an empty segment is everyone, minus its exclusions
        clauses = [self.one(c, stack) for c in conditions]
        return and_(*clauses) if match is Match.ALL else or_(*clauses)

    def one(self, c: Condition, stack: tuple[str, ...]) -> ColumnElement[bool]:
        # Every clause is true or false, never NULL: exclusions negate them.
        match c:
            case Group():
                return self.combined(c.match, c.conditions, stack)
            case InList():
                return self.has(
                    c,
                    ListMember.contact_id,
                    ListMember.workspace_id == self.workspace_id,
                    ListMember.list_id == c.list_id,
                    ListMember.status == "subscribed",
                )
            case HasTag():
                return self.has(
                    c,
                    ContactTag.contact_id,
                    ContactTag.workspace_id == self.workspace_id,
                    ContactTag.tag == c.tag,
                )
            case Attribute():
                clause = _attribute(self.dialect, c)
                return func.coalesce(clause, false(), type_=Boolean)
            case Created():
                return self.created(c)
            case Engagement():
                return self.engagement(c)
            case Consent():
                return _consent(c.state)
            case InSegment():
                return self.segment(c.segment_id, stack)
        raise AssertionError(f"unknown condition {c!r}")  # pragma: no cover

    def has(
        self,
        key: Any,
        contact_id: InstrumentedAttribute[Any],
        *where: ColumnElement[bool],
        many: bool = False,
    ) -> ColumnElement[bool]:
        """The contact has a row in contact_id's table that passes `where`. `many`: the
        table may hold several rows per contact (clicks, messages, events)."""
        if self.joins is None:
            return exists().where(contact_id == Contact.id, *where)
        found = self.joins.get(key)
        if found is None:
            ids = select(contact_id.label("contact_id")).where(contact_id.is_not(None), *where)
            found = (ids.distinct() if many else ids).subquery(f"set_{len(self.joins)}")
            self.joins[key] = found
        return found.c.contact_id.is_not(None)

    def created(self, c: Created) -> ColumnElement[bool]:
        if c.op is CreatedOp.WITHIN_DAYS:
            assert c.days is not None
            return Contact.created_at >= self.now - timedelta(days=c.days)
        assert c.at is not None
        if c.op is CreatedOp.BEFORE:
            return Contact.created_at < c.at
        if c.whole_day:  # after a day: from the next midnight on
            return Contact.created_at >= c.at + timedelta(days=1)
        return Contact.created_at > c.at

    def engagement(self, c: Engagement) -> ColumnElement[bool]:
        since = self.now - timedelta(days=c.days or 0)
        if c.op in (EngagementOp.CLICKED_WITHIN_DAYS, EngagementOp.NEVER_CLICKED):
            clicked = [Click.workspace_id == self.workspace_id]
            if c.op is EngagementOp.NEVER_CLICKED:
                return not_(self.has("clicked", Click.contact_id, *clicked, many=True))
            return self.has(c, Click.contact_id, *clicked, Click.at >= since, many=True)
        if c.op is EngagementOp.CONVERTED_WITHIN_DAYS:
            return self.has(
                c,
                ContactEvent.contact_id,
                ContactEvent.workspace_id == self.workspace_id,
                ContactEvent.name == CONVERSION_EVENT,
                ContactEvent.occurred_at >= since,
                many=True,
            )
        direction = "inbound" if c.op is EngagementOp.REPLIED_WITHIN_DAYS else "outbound"
        messaged = self.has(
            c,
            Message.contact_id,
            Message.workspace_id == self.workspace_id,
            Message.direction == direction,
            Message.created_at >= since,
            many=True,
        )
        return messaged if direction == "inbound" else not_(messaged)

    def segment(self, segment_id: str, stack: tuple[str, ...]) -> ColumnElement[bool]:
        if segment_id in stack:
            raise ValidationFailed(
                f"The segments {' -> '.join((*stack, segment_id))} refer to each other in a "
                "cycle; remove one of the references.",
                field="definition",
            )
        if segment_id not in self.resolve:
            raise NotFound(f"No segment with id {segment_id} in this workspace.")
        return self.definition(self.resolve[segment_id], (*stack, segment_id))


def _consent(state: ConsentState) -> ColumnElement[bool]:
    if state is ConsentState.OPTED_OUT:
        return Contact.opted_out_at.is_not(None)
    consented = (
        Contact.consented_at.is_not(None)
        if state is ConsentState.GRANTED
        else Contact.consented_at.is_(None)
    )
    return and_(consented, Contact.opted_out_at.is_(None))


# --- attributes: the same answers from SQLite's and PostgreSQL's JSON functions ---------------


def _attribute(dialect: str, c: Attribute) -> ColumnElement[bool]:
    """May be NULL (no such attribute); the caller makes that false."""
    text = _attribute_text(dialect, c.name)
    value = c.value
    match c.op:
        case AttributeOp.EXISTS:
            return and_(text.is_not(None), text != "")
        case AttributeOp.CONTAINS:
            assert isinstance(value, str)
            return text.icontains(value, autoescape=True)
        case AttributeOp.GT:
            assert isinstance(value, int | float)
            return _attribute_number(dialect, c.name) > value
        case AttributeOp.LT:
            assert isinstance(value, int | float)
            return _attribute_number(dialect, c.name) < value
        case AttributeOp.BEFORE | AttributeOp.AFTER:
            day = func.substr(text, 1, 10)
            iso = str(value)
            compared = day < iso if c.op is AttributeOp.BEFORE else day > iso
            return and_(text.like("____-__-__%"), compared)
        case AttributeOp.EQUALS | AttributeOp.NOT_EQUALS:
            equal = _equals(dialect, c.name, value)
            if c.op is AttributeOp.EQUALS:
                return equal
            return not_(func.coalesce(equal, false(), type_=Boolean))
    raise AssertionError(f"unknown attribute operator {c.op}")  # pragma: no cover


def _equals(dialect: str, name: str, value: object) -> ColumnElement[bool]:
    if isinstance(value, bool):
        return _attribute_text(dialect, name) == ("true" if value else "false")
    if isinstance(value, int | float):
        return _attribute_number(dialect, name) == float(value)
    return _attribute_text(dialect, name) == str(value)


def _attribute_text(dialect: str, name: str) -> ColumnElement[str]:
    """The attribute as text, spelled alike on both databases: 'abc', '42', '4.5', 'true'."""
    value = Contact.attributes[name].as_string()
    if dialect != "sqlite":
        return value  # PostgreSQL's ->> already gives that spelling
    # SQLite's json_extract gives 1 and 0 for booleans and numbers as numbers.
    kind = _sqlite_kind(name)
    return case((kind == "true", "true"), (kind == "false", "false"), else_=cast(value, String))


def _attribute_number(dialect: str, name: str) -> ColumnElement[float]:
    """The attribute as a number when it is one, or text that reads as one ('19.90'); else
    NULL. CSV imports store every attribute as text, hence the second case."""
    text = Contact.attributes[name].as_string()
    if dialect != "sqlite":
        number = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"
        return case((text.regexp_match(number), cast(text, Float)), else_=None)
    kind, raw = _sqlite_kind(name), _sqlite_value(name)
    numeric_text = and_(
        kind == "text",
        raw.op("GLOB")(literal("*[0-9]*")),
        not_(func.trim(raw).op("GLOB")(literal("*[^0-9.eE+-]*"))),
    )
    return case(
        (kind.in_(("integer", "real")), raw),
        (numeric_text, cast(raw, Float)),
        else_=None,
    )


def _sqlite_kind(name: str) -> ColumnElement[str]:
    # Attribute names are checked (letters, digits, '_'), so the path needs no escaping.
    return func.json_type(Contact.attributes, f'$."{name}"', type_=String)


def _sqlite_value(name: str) -> ColumnElement[Any]:
    """The stored value as SQLite has it: a number stays a number (no type: no cast)."""
    return func.json_extract(Contact.attributes, f'$."{name}"')


# --- helpers ---------------------------------------------------------------------------------


async def _check_references(
    session: AsyncSession, workspace_id: str, definition: Definition, *, own_id: str | None = None
) -> dict[str, Definition]:
    """Every list and segment named exists in the workspace, and segments form no cycle;
    returns the definitions of the segments reached. Errors name the path of the condition."""
    wanted = domain.list_ids(definition)
    if wanted:
        found = set(
            await session.scalars(
                select(ContactList.id).where(
                    ContactList.workspace_id == workspace_id, ContactList.id.in_(wanted)
                )
            )
        )
        for list_id in wanted:
            if list_id not in found:
                path = domain.find_path(definition, InList(list_id)) + ".value"
                raise ValidationFailed(
                    f"{path}: no list with id {list_id} in this workspace.", field=path
                )
    resolved = await _resolve(session, workspace_id, definition)
    for segment_id in domain.segment_ids(definition):
        path = domain.find_path(definition, InSegment(segment_id)) + ".value"
        if segment_id == own_id or (own_id and _reaches(resolved, segment_id, own_id)):
            raise ValidationFailed(
                f"{path}: the segment {segment_id} includes this one, so using it here would "
                "make a cycle.",
                field=path,
            )
    return resolved


def _reaches(resolved: Mapping[str, Definition], start: str, target: str) -> bool:
    seen: set[str] = set()
    pending = [start]
    while pending:
        current = pending.pop()
        if current == target:
            return True
        if current in seen or current not in resolved:
            continue
        seen.add(current)
        pending.extend(domain.segment_ids(resolved[current]))
    return False


async def _resolve(
    session: AsyncSession, workspace_id: str, definition: Definition
) -> dict[str, Definition]:
    """The definitions of the saved segments `definition` refers to, directly or not."""
    resolved: dict[str, Definition] = {}
    pending = list(domain.segment_ids(definition))
    while pending:
        wanted = [i for i in dict.fromkeys(pending) if i not in resolved]
        if not wanted:
            break
        if len(resolved) + len(wanted) > MAX_REFERENCED:
            raise ValidationFailed(
                f"A segment may reach at most {MAX_REFERENCED} other segments, directly or "
                "through others.",
                field="definition",
            )
        result = await session.execute(
            select(Segment.id, Segment.definition).where(
                Segment.workspace_id == workspace_id, Segment.id.in_(wanted)
            )
        )
        rows: dict[str, Any] = {segment_id: raw for segment_id, raw in result}
        for segment_id in wanted:
            if segment_id not in rows:
                path = domain.find_path(definition, InSegment(segment_id)) + ".value"
                raise ValidationFailed(
                    f"{path}: no segment with id {segment_id} in this workspace.", field=path
                )
            resolved[segment_id] = domain.parse_definition(rows[segment_id])
        pending = [j for i in wanted for j in domain.segment_ids(resolved[i])]
    return resolved


async def _get(session: AsyncSession, workspace_id: str, segment_id: str) -> Segment:
    segment = None
    if looks_like_id(segment_id):
        segment = await session.scalar(
            select(Segment).where(Segment.workspace_id == workspace_id, Segment.id == segment_id)
        )
    if segment is None:
        raise NotFound(f"No segment with id {segment_id[:40]} in this workspace.")
    return segment


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _name(name: str) -> str:
    cleaned = single_line(name, "name", MAX_NAME).strip()
    if not cleaned:
        raise ValidationFailed("A segment needs a name.", field="name")
    return cleaned


def _description(description: str | None) -> str | None:
    if description is None:
        return None
    if "\x00" in description or len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(
            f"description has at most {MAX_DESCRIPTION} characters and no NUL.",
            field="description",
        )
    return description.strip() or None


async def _check_name_free(session: AsyncSession, actor: Actor, name: str) -> None:
    taken = await session.scalar(
        select(Segment.id).where(Segment.workspace_id == actor.workspace_id, Segment.name == name)
    )
    if taken is not None:
        raise _duplicate(name, taken)


def _duplicate(name: str, segment_id: str) -> Conflict:
    return Conflict(
        f"The segment {segment_id} is already named '{name}'; choose another name.", field="name"
    )


async def _commit(session: AsyncSession, name: str) -> None:
    """Commit; a concurrent save of the same name loses with a Conflict, not a 500."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(
            f"A segment is already named '{name}'; choose another name.", field="name"
        ) from None
