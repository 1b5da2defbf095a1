"""People, their API tokens and passwords: created, listed, revoked, and checked when they present them.

Every change is an audit entry in the same transaction. Tokens are shown once, when made, and kept only
as their SHA-256; passwords only as a slow hash, made before any transaction opens (on SQLite a
transaction holds the database's write lock, and hashing takes a tenth of a second on purpose).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.people import credentials
from monitor.storage.engine import transaction
from monitor.storage.enums import AuditAction, Role
from monitor.storage.models import ApiToken, Person
from monitor.timefmt import iso
from monitor.usecases import audit
from monitor.usecases.audit import Actor
from monitor.usecases.outages import Conflict, InvalidInput, NotFound

ROLES = ", ".join(role.value for role in Role)
# A token's last use is written at most this often: every request reading the API must not write.
LAST_USED_EVERY = timedelta(minutes=1)


def role_of(value: object, field: str = "role") -> Role:
    if isinstance(value, Role):
        return value
    if isinstance(value, str):
        try:
            return Role(value)
        except ValueError:
            pass
    raise InvalidInput(field, f"unknown role {str(value)[:40]!r}; expected one of {ROLES}")


def prepare_password(password: object, field: str = "password") -> str:
    """The slow hash of a password that may be used; InvalidInput (never repeating it) otherwise. No transaction."""
    problem = credentials.password_problem(password)
    if problem is not None:
        raise InvalidInput(field, problem)
    return credentials.hash_password(str(password))


def get_person(session: Session, name: object, *, for_update: bool = False) -> Person:
    if not isinstance(name, str) or len(name) > 64:
        raise NotFound(f"no person {str(name)[:80]!r}")
    query = select(Person).where(Person.name == name)
    person = session.scalar(query.with_for_update() if for_update else query)
    if person is None:
        raise NotFound(f"no person {name!r}")
    return person


def create_person(
    session: Session,
    actor: Actor,
    *,
    name: object,
    role: object,
    now: datetime,
    slack_user_id: object = None,
    password_hash: str | None = None,
) -> Person:
    """A new person; `password_hash` from prepare_password (None: API tokens only, no sign-in)."""
    problem = credentials.name_problem(name)
    if problem is not None:
        raise InvalidInput("name", problem)
    chosen = role_of(role)
    if slack_user_id is not None:
        problem = credentials.slack_user_problem(slack_user_id)
        if problem is not None:
            raise InvalidInput("slack_user_id", problem)
    if session.scalar(select(Person.id).where(Person.name == name)) is not None:
        raise Conflict("name", f"there is already a person named {name!r}")
    if slack_user_id is not None and session.scalar(select(Person.name).where(Person.slack_user_id == slack_user_id)):
        raise Conflict("slack_user_id", f"Slack user {slack_user_id} is already someone else's")
    person = Person(
        name=str(name),
        role=chosen,
        slack_user_id=None if slack_user_id is None else str(slack_user_id),
        password_hash=password_hash,
        active=True,
        created_at=now,
    )
    session.add(person)
    session.flush()
    audit.append(
        session, actor, AuditAction.PERSON_CREATED, f"person:{person.name}", after=person_json(person), now=now
    )
    return person


def set_password(session: Session, actor: Actor, name: object, *, password_hash: str, now: datetime) -> Person:
    """Give a person a new password (hashed by prepare_password): their signed-in sessions end."""
    person = get_person(session, name, for_update=True)
    had = person.password_hash is not None
    person.password_hash = password_hash
    audit.append(
        session,
        actor,
        AuditAction.PASSWORD_SET,
        f"person:{person.name}",
        before={"password": had},
        after={"password": True},
        now=now,
    )
    return person


def set_slack_user(session: Session, actor: Actor, name: object, *, slack_user_id: object, now: datetime) -> Person:
    """Link a person to their Slack account (None unlinks): their Acknowledge presses in Slack act as them."""
    person = get_person(session, name, for_update=True)
    if slack_user_id is not None:
        problem = credentials.slack_user_problem(slack_user_id)
        if problem is not None:
            raise InvalidInput("slack_user_id", problem)
        holder = session.scalar(
            select(Person.name).where(Person.slack_user_id == slack_user_id, Person.id != person.id)
        )
        if holder is not None:
            raise Conflict("slack_user_id", f"Slack user {slack_user_id} is already {holder}'s")
    before = person.slack_user_id
    if before == slack_user_id:
        return person  # nothing changes: nothing recorded
    person.slack_user_id = None if slack_user_id is None else str(slack_user_id)
    audit.append(
        session,
        actor,
        AuditAction.SLACK_USER_SET,
        f"person:{person.name}",
        before={"slack_user_id": before},
        after={"slack_user_id": person.slack_user_id},
        now=now,
    )
    return person


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once: only its SHA-256 is kept
    prefix: str
    person: str
    role: Role
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "prefix": credentials.shown_prefix(self.prefix),
            "person": self.person,
            "role": self.role.value,
            "created_at": iso(self.created_at),
        }


def issue_token(session: Session, actor: Actor, name: object, *, now: datetime) -> IssuedToken:
    """A new API token for an active person; the token itself is in the answer and nowhere else."""
    person = get_person(session, name, for_update=True)
    if not person.active:
        raise Conflict("name", f"{person.name} is no longer active")
    token, prefix = credentials.new_token()
    session.add(ApiToken(person_id=person.id, token_hash=credentials.token_hash(token), prefix=prefix, created_at=now))
    session.flush()
    audit.append(
        session,
        actor,
        AuditAction.TOKEN_CREATED,
        f"token:{prefix}",
        after={"person": person.name, "role": person.role.value, "prefix": credentials.shown_prefix(prefix)},
        now=now,
    )
    return IssuedToken(token=token, prefix=prefix, person=person.name, role=person.role, created_at=now)


def revoke_token(session: Session, actor: Actor, prefix: str, *, now: datetime) -> tuple[ApiToken, Person]:
    """Revoke a token by its prefix (`ab12cd34`, `pw_ab12cd34` or the whole token); again: nothing changes."""
    found = credentials.prefix_of(prefix)
    row = None
    if found is not None:
        row = session.execute(
            select(ApiToken, Person).join(Person, Person.id == ApiToken.person_id).where(ApiToken.prefix == found)
        ).first()
    if row is None:
        raise NotFound(f"no token {prefix[:40]!r}")
    token, person = row
    if token.revoked_at is None:
        token.revoked_at = now
        audit.append(
            session,
            actor,
            AuditAction.TOKEN_REVOKED,
            f"token:{token.prefix}",
            before={"person": person.name, "revoked_at": None},
            after={"person": person.name, "revoked_at": iso(now)},
            now=now,
        )
    return token, person


# --- reading -------------------------------------------------------------------------------------


def person_json(person: Person, tokens: list[ApiToken] | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": person.id,
        "name": person.name,
        "role": person.role.value,
        "active": person.active,
        "slack_user_id": person.slack_user_id,
        "password": person.password_hash is not None,
        "created_at": iso(person.created_at),
    }
    if tokens is not None:
        shown["tokens"] = [token_json(token) for token in tokens]
    return shown


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "prefix": credentials.shown_prefix(token.prefix),
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }


def people_report(session: Session) -> list[dict[str, Any]]:
    """Everyone, with their tokens (never the tokens themselves), by name."""
    people = list(session.scalars(select(Person).order_by(Person.name)))
    tokens: dict[int, list[ApiToken]] = {person.id: [] for person in people}
    for token in session.scalars(select(ApiToken).order_by(ApiToken.id)):
        tokens.setdefault(token.person_id, []).append(token)
    return [person_json(person, tokens[person.id]) for person in people]


# --- presenting credentials ----------------------------------------------------------------------


def authenticate_token(sessions: sessionmaker[Session], presented: str, *, now: datetime) -> Actor | None:
    """The person a bearer token belongs to, if it is theirs, not revoked, and they are active; else None.

    A token not shaped like one is refused without a lookup. The lookup is an indexed equality on the
    token's SHA-256 (nothing an attacker learns from its time says anything about a valid token), and the
    digests are compared again in constant time. Its own short transaction, which also notes the last use.
    """
    if credentials.token_prefix(presented) is None:
        return None
    digest = credentials.token_hash(presented)
    with transaction(sessions) as session:
        row = session.execute(
            select(ApiToken.id, ApiToken.token_hash, ApiToken.revoked_at, Person.id, Person.name, Person.role)
            .join(Person, Person.id == ApiToken.person_id)
            .where(ApiToken.token_hash == digest, Person.active)
        ).first()
        if row is None:
            return None
        token_id, stored, revoked_at, person_id, name, role = row
        if revoked_at is not None or not credentials.same_digest(stored, digest):
            return None
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == token_id,
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_EVERY),
            )
            .values(last_used_at=now)
        )
    return Actor(name=name, role=role, person_id=person_id)


@dataclass(frozen=True)
class SignedIn:
    actor: Actor
    session_key: str  # kept in the session cookie: a new password ends the session


def check_password(sessions: sessionmaker[Session], name: object, password: object) -> SignedIn | None:
    """The person if `password` is theirs and they are active; None otherwise, after the same work either way.

    The row is read in a short transaction of its own, and the slow hash checked after it has closed.
    """
    stored: str | None = None
    found: tuple[int, str, Role] | None = None
    if isinstance(name, str) and credentials.NAME_PATTERN.fullmatch(name):
        with transaction(sessions) as session:
            person = session.scalar(select(Person).where(Person.name == name, Person.active))
            if person is not None:
                stored, found = person.password_hash, (person.id, person.name, person.role)
    if not credentials.verify_password(password, stored) or found is None or stored is None:
        return None
    person_id, person_name, role = found
    return SignedIn(Actor(person_name, role, person_id), credentials.session_key(stored))


def signed_in_actor(session: Session, person_id: object, key: object) -> Actor | None:
    """Who a session cookie names, while they are active and their password is the one they signed in with."""
    if not isinstance(person_id, int) or not isinstance(key, str):
        return None
    person = session.get(Person, person_id)
    if person is None or not person.active or person.password_hash is None:
        return None
    if not credentials.same_digest(credentials.session_key(person.password_hash), key):
        return None
    return Actor(person.name, person.role, person.id)
