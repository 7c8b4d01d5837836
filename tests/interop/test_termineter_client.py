"""The simulated meter against a C12.18 client written outside this project.

termineter (rsmusllp, BSD) is an independent C12.18 implementation installed from PyPI as a
test dependency: if our simulator's meter side misread the standard in a way our own driver
shares, termineter would disagree with it here.
"""

from __future__ import annotations

from typing import Any

import pytest

from fieldkit.drivers.c1218 import tables as t
from tests.helpers import scenario_data

termineter = pytest.importorskip("c1218.connection", reason="termineter is a dev dependency")

pytestmark = pytest.mark.sim


def _connect(url: str) -> Any:
    conn = termineter.Connection(url, enable_cache=False)
    conn.serial_h.timeout = 3  # termineter would otherwise block forever on a silent peer
    return conn


def test_termineter_reads_the_secured_meter(sim: Any) -> None:
    simulator = sim("secured-2s")
    data = scenario_data("secured-2s")
    password = data["security"]["passwords"][0]["text"].ljust(20)
    conn = _connect(simulator.url)
    try:
        assert conn.start() is True  # Identify + Negotiate (termineter asks 512 B x 2)
        assert conn.login(username="TERMINTR", userid=1, password=password) is True
        st0 = t.decode_st0(bytes(conn.get_table_data(0)))
        st1 = t.decode_st1(bytes(conn.get_table_data(1)), st0)
        assert st1.manufacturer == data["meter"]["manufacturer"]
        assert st1.serial_number == data["meter"]["serial"]
        st5 = t.decode_st5(bytes(conn.get_table_data(5)), st0)
        assert st5 == data["meter"]["meter_id"]
        # termineter's partial read (0x3F) of the event log header
        header = t.decode_log_header(bytes(conn.get_table_data(76, 11, 0)), st0, log="event")
        assert header.nbr_valid_entries == len(
            [e for e in data.get("event", []) if e.get("log", "event") == "event"]
        )
        assert conn.logoff() is True
    finally:
        conn.close()
    assert simulator.stats.naks_sent == 0


def test_termineter_nul_padding_and_a_wrong_password(sim: Any) -> None:
    # termineter pads passwords with NULs where MeteringSDK pads with spaces; the simulated
    # meter accepts either padding of the right password and refuses a wrong one with err.
    simulator = sim("secured-2s")
    password = scenario_data("secured-2s")["security"]["passwords"][0]["text"]
    conn = _connect(simulator.url)
    try:
        assert conn.start() is True
        assert conn.login(username="TERMINTR", userid=1, password="NOT-THE-ONE") is False
    finally:
        conn.close()
    conn = _connect(simulator.url)  # a new connection: the meter is back in its base state
    try:
        assert conn.start() is True
        assert conn.login(username="TERMINTR", userid=1, password=password) is True
        assert len(conn.get_table_data(3)) >= 5  # ST3 needs the reader level
    finally:
        conn.close()


def test_termineter_sees_isc_without_security(sim: Any) -> None:
    from c1218.errors import C1218ReadTableError

    simulator = sim("secured-2s")
    conn = _connect(simulator.url)
    try:
        assert conn.start() is True
        assert conn.login(username="TERMINTR", userid=1) is True
        assert len(conn.get_table_data(1)) == 32  # identity is open after Logon
        with pytest.raises(C1218ReadTableError) as refused:
            conn.get_table_data(3)
        assert refused.value.code == 0x03  # isc
    finally:
        conn.close()
