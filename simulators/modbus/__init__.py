"""A simulated Modbus meter: a scenario served through a register map, RTU or Modbus TCP.

:mod:`.registers` lays the scenario's values out in registers (read from the map file with
its own code), :mod:`.device` answers requests sans-I/O with faults, :mod:`.server` is the
socket/pty edge and :func:`.server.start` the helper tests use.
"""
