"""The office's search box: an account, meter, serial, premise or work-order id exactly, or a
customer name or service address from the start of any of its words.

Names and addresses are found through ``search_terms``: for each word of a customer name
or service address, the normalized text from that word to the end. A query matches when
it is the start of one of those: "smith" finds "John Smith", "main st" finds "12 Main St,
Springfield". Each kind of match is one range of an index, never a scan of a table, and
every list is cut at :data:`LIMIT`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

from syncserver.db.models import Account, Meter, Premise, SearchTerm, WorkOrder

__all__ = [
    "LIMIT",
    "MAX_QUERY",
    "AccountHit",
    "MeterHit",
    "SearchResults",
    "WorkOrderHit",
    "index_accounts",
    "normalize",
    "search",
    "terms_of",
]

LIMIT = 50
"""Most hits of each kind a search shows."""
MAX_QUERY = 120
"""Longest query (and stored term) in characters: a term is cut there."""
MAX_WORDS = 16
"""Word starts indexed per name or address (an address never needs more)."""
_JOINED = re.compile(r"['’.]")
_APART = re.compile(r"[^\w]+|_")


def normalize(text: str) -> str:
    """``text`` as the search compares it: accents off, case folded, apostrophes and dots
    dropped ("O'Brien" is "obrien", "St." is "st"), any other punctuation a space."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    return " ".join(_APART.sub(" ", _JOINED.sub("", plain)).split())


def terms_of(text: str) -> set[str]:
    """The stored terms of a name or address: the normalized text from each word on."""
    words = normalize(text).split()
    return {" ".join(words[i:])[:MAX_QUERY] for i in range(min(len(words), MAX_WORDS))}


def index_accounts(session: Session, account_ids: Iterable[int]) -> None:
    """Write the search terms of these accounts again from their name and premises (call it
    after creating or changing an account or premise)."""
    ids = sorted(set(account_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(delete(SearchTerm).where(SearchTerm.account_id.in_(chunk)))
        rows: set[tuple[str, int, str]] = set()
        for pk, name in session.execute(
            select(Account.id, Account.customer_name).where(Account.id.in_(chunk))
        ):
            rows.update((t, pk, "name") for t in terms_of(name))
        for pk, address in session.execute(
            select(Premise.account_id, Premise.service_address).where(Premise.account_id.in_(chunk))
        ):
            rows.update((t, pk, "address") for t in terms_of(address))
        if rows:
            session.execute(
                insert(SearchTerm),
                [{"term": t, "account_id": a, "source": s} for t, a, s in sorted(rows)],
            )


@dataclass(frozen=True, slots=True)
class AccountHit:
    """An account found, with its premises' addresses and why it matched."""

    account_number: str
    customer_name: str
    addresses: list[str]
    matched: str
    """``account number``, ``premise id``, ``name`` or ``address``."""


@dataclass(frozen=True, slots=True)
class MeterHit:
    """A meter found by its number or serial."""

    meter_number: str
    meter_serial: str | None
    form: str | None
    account_number: str
    customer_name: str
    service_address: str
    matched: str


@dataclass(frozen=True, slots=True)
class WorkOrderHit:
    """A work order found by its id."""

    work_order_id: str
    kind: str
    status: str
    account_number: str
    meter_number: str


@dataclass(frozen=True, slots=True)
class SearchResults:
    """What a query found, exact ids first; ``more`` when a list was cut at :data:`LIMIT`."""

    query: str
    accounts: list[AccountHit]
    meters: list[MeterHit]
    work_orders: list[WorkOrderHit]
    more: bool

    @property
    def empty(self) -> bool:
        """Nothing found."""
        return not (self.accounts or self.meters or self.work_orders)


def _ids(query: str) -> list[str]:
    """The spellings an id is tried in: as typed, and in capitals (ids are printed so)."""
    return list(dict.fromkeys([query, query.upper()]))


def _prefix_hits(session: Session, query: str) -> tuple[list[tuple[int, str]], bool]:
    """Accounts whose name or an address has a word start matching ``query``, in the terms'
    alphabetical order (one range of the primary key), at most :data:`LIMIT`."""
    key = normalize(query)[:MAX_QUERY]
    if not key:
        return [], False
    scanned = LIMIT * 4
    rows = session.execute(
        select(SearchTerm.account_id, SearchTerm.source)
        .where(SearchTerm.term >= key, SearchTerm.term < key + "\U0010ffff")
        .order_by(SearchTerm.term, SearchTerm.account_id)
        .limit(scanned)
    ).all()
    found: dict[int, str] = {}
    for pk, source in rows:
        found.setdefault(pk, source)
    hits = list(found.items())
    return hits[:LIMIT], len(hits) > LIMIT or len(rows) == scanned


def _accounts(session: Session, matched: dict[int, str]) -> list[AccountHit]:
    if not matched:
        return []
    ids = list(matched)
    names = {
        pk: (number, name)
        for pk, number, name in session.execute(
            select(Account.id, Account.account_number, Account.customer_name).where(
                Account.id.in_(ids)
            )
        )
    }
    addresses: dict[int, list[str]] = {}
    for pk, address in session.execute(
        select(Premise.account_id, Premise.service_address)
        .where(Premise.account_id.in_(ids))
        .order_by(Premise.premise_id)
    ):
        addresses.setdefault(pk, []).append(address)
    return [
        AccountHit(names[pk][0], names[pk][1], addresses.get(pk, []), why)
        for pk, why in matched.items()
        if pk in names
    ]


def search(session: Session, query: str) -> SearchResults:
    """Everything ``query`` finds: exact ids (account, premise, meter, serial, work order)
    first, then accounts by name or address."""
    query = " ".join(query.split())[:MAX_QUERY]
    if not query:
        return SearchResults("", [], [], [], False)
    spellings = _ids(query)
    matched: dict[int, str] = {}
    for pk in session.execute(
        select(Account.id).where(Account.account_number.in_(spellings))
    ).scalars():
        matched[pk] = "account number"
    for pk in session.execute(
        select(Premise.account_id).where(Premise.premise_id.in_(spellings))
    ).scalars():
        matched.setdefault(pk, "premise id")
    by_word, more = _prefix_hits(session, query)
    for pk, source in by_word:
        matched.setdefault(pk, source)
    meters = [
        MeterHit(
            number,
            serial,
            form,
            account,
            name,
            address,
            "meter number" if number in spellings else "serial",
        )
        for number, serial, form, account, name, address in session.execute(
            select(
                Meter.meter_number,
                Meter.meter_serial,
                Meter.form,
                Account.account_number,
                Account.customer_name,
                Premise.service_address,
            )
            .join(Premise, Premise.id == Meter.premise_pk)
            .join(Account, Account.id == Premise.account_id)
            .where(or_(Meter.meter_number.in_(spellings), Meter.meter_serial.in_(spellings)))
            .order_by(Meter.meter_number)
            .limit(LIMIT)
        )
    ]
    orders = [
        WorkOrderHit(*row)
        for row in session.execute(
            select(
                WorkOrder.work_order_id,
                WorkOrder.kind,
                WorkOrder.status,
                Account.account_number,
                Meter.meter_number,
            )
            .join(Account, Account.id == WorkOrder.account_id)
            .join(Meter, Meter.id == WorkOrder.meter_id)
            .where(WorkOrder.work_order_id.in_(spellings))
        )
    ]
    return SearchResults(query, _accounts(session, matched), meters, orders, more)
