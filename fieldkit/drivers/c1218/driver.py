"""The ANSI C12.18 driver: one optical-port session that reads the site table set.

It opens the port, runs the session (Identify → Negotiate → Logon → [Security]), reads ST0
first and then only the tables ST0 lists as used, and hands the bytes to
:func:`~fieldkit.drivers.c1218.snapshot.build_snapshot`. When no meter profile matches the
meter, it also reads the standard source tables (ST11, ST12, ST15, ST16) so the snapshot can
name per-phase values and registers from the meter's own description. A table the meter refuses
(``onp``, ``iar``, ``sns``, ``isc``) becomes an ``unavailable`` item with the reason and the
read carries on; a dead link, a silent port or a wrong password ends the read with a typed
error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TypeVar

from fieldkit.drivers.c1218 import tables as t
from fieldkit.drivers.c1218.client import C1218Client, ClientStats, SessionConfig
from fieldkit.drivers.c1218.link import LinkConfig
from fieldkit.drivers.c1218.profile import MeterProfile, ProfileRegistry
from fieldkit.drivers.c1218.session import declines_partial_reads
from fieldkit.drivers.c1218.snapshot import STANDARD_ROUTE_TABLES, TableSet, build_snapshot
from fieldkit.drivers.errors import DecodeError, MeterRefused, SecurityDenied
from fieldkit.drivers.transport import Transport, open_transport
from fieldkit.model import FrameRecord, MeterSnapshot

__all__ = ["SITE_TABLES", "STANDARD_ROUTE_READS", "C1218Driver", "C1218Options"]

LOG = logging.getLogger(__name__)
T = TypeVar("T")

# What a site visit reads, in order (reference §2.10). Item names are the snapshot's.
SITE_TABLES: tuple[tuple[int, str], ...] = (
    (3, "status"),
    (5, "meter_id"),
    (52, "clock"),
    (21, "registers"),
    (22, "registers"),
    (23, "registers"),
    (27, "phases"),
    (28, "phases"),
    (71, "events"),
    (74, "events"),
    (76, "events"),
)

# Read only without a profile, and only when ST0 lists ST11, ST12 and ST16; ST15 is optional.
STANDARD_ROUTE_READS: tuple[tuple[int, str], ...] = (
    (11, "phases"),
    (12, "phases"),
    (15, "phases"),
    (16, "phases"),
)


# Tables that only help build another table's item (ST15 constants, ST22/ST27 source
# selections, the ST74 history beside the ST76 event log). When the meter does not list one,
# or refuses it, the item is still built from the tables that carry it, or explained by
# what is missing from those.
_COMPANIONS = frozenset({15, 22, 27, 74})


@dataclass(frozen=True, slots=True)
class C1218Options:
    """How to talk to the meter; the defaults follow C12.18."""

    link: LinkConfig = field(default_factory=LinkConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    meter_tz: tzinfo | None = None  # None: the meter keeps the laptop's local time
    read_events: bool = True
    rts: bool = True
    dtr: bool = False


class C1218Driver:
    """Reads a C12.18 meter once per :meth:`read_snapshot`."""

    protocol = "c1218"

    def __init__(
        self,
        url: str,
        options: C1218Options | None = None,
        *,
        profiles: ProfileRegistry | None = None,
        transport_factory: Callable[[str], Transport] | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.options = options or C1218Options()
        self.profiles = profiles or ProfileRegistry.default()
        self._transport_factory = transport_factory or self._open_port
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._sleep = sleep
        self.last_stats: ClientStats | None = None
        # Identify to Terminate of the last read: what the optical link cost, port open and
        # close excluded (pyserial's socket:// close alone sleeps 300 ms).
        self.last_session_seconds: float | None = None

    def _open_port(self, url: str) -> Transport:
        return open_transport(url, rts=self.options.rts, dtr=self.options.dtr)

    def read_snapshot(self) -> MeterSnapshot:
        """Read the site table set and return the snapshot (raw frames included)."""
        frames: list[FrameRecord] = []
        start = self._monotonic()

        def record(direction: str, data: bytes, at: float) -> None:
            frames.append(FrameRecord(direction, data, at - start))

        transport = self._transport_factory(self.url)
        client = C1218Client(
            transport,
            self.options.link,
            self.options.session,
            clock=self._monotonic,
            sleep=self._sleep,
            on_frame=record,
        )
        session_start = self._monotonic()
        try:
            client.open()
            tables, profile = self._read_tables(client)
        finally:
            client.close()
            self.last_session_seconds = self._monotonic() - session_start
            transport.close()
            self.last_stats = client.stats
        return build_snapshot(
            tables,
            profile=profile,
            read_at=self._wall_clock(),
            meter_tz=self.options.meter_tz,
            frames=tuple(frames),
        )

    def _read_tables(self, client: C1218Client) -> tuple[TableSet, MeterProfile | None]:
        ts = TableSet()
        ts.tables[0] = client.read_table(0)
        cfg = t.decode_st0(ts.tables[0])  # without ST0 nothing else can be decoded
        ts.tables[1] = client.read_table(1)
        st1 = t.decode_st1(ts.tables[1], cfg)
        profile = self.profiles.find(st1.manufacturer, st1.model)
        # Manufacturer tables a profile points at are read after the standard set; without a
        # profile, the meter's own source description is the next best thing.
        if profile is None:
            extra = _standard_route_reads(cfg)
        else:
            extra = tuple((n, "phases") for n in sorted(profile.tables))
        denied: list[SecurityDenied] = []
        read_ok = 0
        st21: t.ActualRegisters | None = None
        st71: t.ActualLog | None = None
        st11: t.ActualSources | None = None
        for table_id, item in SITE_TABLES + extra:
            if table_id in (74, 76) and not self.options.read_events:
                continue
            if not cfg.uses(table_id):
                if table_id == 52 and cfg.uses(55):
                    table_id = 55
                else:
                    if table_id not in _COMPANIONS:
                        ts.missing(
                            item, f"the meter does not list {t.table_label(table_id)} as used"
                        )
                    continue
            data: bytes | None
            try:
                if table_id == 52:
                    table_id, data = self._read_clock_table(client, ts, cfg)
                else:
                    data = self._read_one(client, ts, table_id, cfg, st21, st71, st11)
            except SecurityDenied as exc:
                denied.append(exc)
                ts.missing(item, str(exc))
                continue
            except MeterRefused as exc:
                if table_id in _COMPANIONS:
                    LOG.info("ST%d refused, reading on without it: %s", table_id, exc)
                else:
                    ts.missing(item, f"ST{table_id}: {exc}")
                continue
            except DecodeError as exc:
                ts.missing(item, str(exc))
                continue
            if data is None:
                continue
            read_ok += 1
            ts.tables[table_id] = data
            if table_id == 21:
                st21 = _try(t.decode_st21, data, cfg)
            elif table_id == 71:
                st71 = _try(t.decode_st71, data, cfg)
            elif table_id == 11:
                st11 = _try(t.decode_st11, data, cfg)
        if denied and not read_ok:
            raise SecurityDenied(
                "the meter allows only its identity without a password: "
                "read again with --password (or --password-hex)",
                code=denied[0].code,
                service=denied[0].service,
                table=denied[0].table,
            )
        return ts, profile

    def _read_one(
        self,
        client: C1218Client,
        ts: TableSet,
        table_id: int,
        cfg: t.GeneralConfig,
        st21: t.ActualRegisters | None,
        st71: t.ActualLog | None,
        st11: t.ActualSources | None,
    ) -> bytes | None:
        if table_id == 55:  # standing in for an ST52 the meter does not list
            return self._read_clock(client, ts, table_id)
        if table_id == 23 and st21 is not None:
            return client.read_table(23, size=t.st23_size(cfg, st21))
        if table_id == 28 and st21 is not None:
            return client.read_table(28, size=t.st28_size(cfg, st21))
        if table_id in (74, 76):
            if st71 is None:
                return None
            return self._read_log(client, table_id, cfg, st71)
        if table_id == 12 and st11 is not None:
            return client.read_table(12, size=t.st12_size(st11))
        if table_id == 16 and st11 is not None:
            return client.read_table(16, size=t.st16_size(st11))
        if table_id == 15 and st11 is not None:
            return self._read_st15(client, cfg, st11)
        return client.read_table(table_id)

    def _read_clock(self, client: C1218Client, ts: TableSet, table_id: int) -> bytes:
        before = self._wall_clock()
        data = client.read_table(table_id)
        after = self._wall_clock()
        # The meter samples its clock while the request is in flight: take the midpoint.
        ts.clock_reference = before + (after - before) / 2
        return data

    def _read_clock_table(
        self, client: C1218Client, ts: TableSet, cfg: t.GeneralConfig
    ) -> tuple[int, bytes]:
        """ST52, or ST55 when the meter lists ST52 but refuses it.

        ST55 holds the same LTIME_DATE and qualifier (plus the TOU state word); when both are
        refused, the ST52 refusal is the one reported.
        """
        try:
            return 52, self._read_clock(client, ts, 52)
        except MeterRefused as refused:
            if not cfg.uses(55):
                raise
            LOG.info("ST52 refused (%s): reading the clock from ST55", refused)
            try:
                return 55, self._read_clock(client, ts, 55)
            except MeterRefused:
                raise refused from None

    def _read_st15(self, client: C1218Client, cfg: t.GeneralConfig, st11: t.ActualSources) -> bytes:
        """ST15 has one of two sizes (with or without OFFSET) and only the meter knows which."""
        short, full = t.st15_sizes(cfg, st11)
        if full <= client.max_read_size:
            return client.read_table(15)
        data = client.read_partial(15, 0, short)
        if len(data) < short or full == short:
            return data
        try:
            rest = client.read_partial(15, short, full - short)
        except MeterRefused as exc:
            if isinstance(exc, SecurityDenied):
                raise
            # Asking past the end of a table is refused: the records have no OFFSET.
            return data
        return data + rest

    def _read_log(
        self, client: C1218Client, table_id: int, cfg: t.GeneralConfig, st71: t.ActualLog
    ) -> bytes:
        """A log is read in partial chunks: the header, then only the slots in use."""
        try:
            header_raw = client.read_partial(table_id, 0, t.LOG_HEADER_SIZE)
        except MeterRefused as exc:
            if not declines_partial_reads(exc):
                raise
            # A meter without partial reads: the whole log in one read (the meter segments it).
            return client.read_table(table_id)
        log: t.LogKind = "history" if table_id == 74 else "event"
        header = t.decode_log_header(header_raw, cfg, log=log)
        entry_size, slots = t.log_dimensions(cfg, st71, log)
        valid = t.valid_entry_slots(header, slots)
        used = max(valid) + 1 if valid else 0  # slots are read from slot 0 up
        if used == 0 or entry_size == 0:
            return header_raw
        per_read = max(1, client.max_read_size // entry_size)
        parts = [header_raw]
        for first in range(0, used, per_read):
            count = min(per_read, used - first)
            offset = t.LOG_HEADER_SIZE + first * entry_size
            parts.append(client.read_partial(table_id, offset, count * entry_size))
        return b"".join(parts)


def _standard_route_reads(cfg: t.GeneralConfig) -> tuple[tuple[int, str], ...]:
    """The source tables to read for the standard route, if the meter has what it needs."""
    if not all(cfg.uses(n) for n in STANDARD_ROUTE_TABLES):
        return ()
    return tuple((n, item) for n, item in STANDARD_ROUTE_READS if cfg.uses(n))


def _try(fn: Callable[[bytes, t.GeneralConfig], T], data: bytes, cfg: t.GeneralConfig) -> T | None:
    try:
        return fn(data, cfg)
    except DecodeError:
        return None
