"""The technician's app (Textual): work orders, site, connect, checks, adjust, close.

:class:`~fieldkit.tui.app.FieldkitApp` receives its hardware and services
(``driver_factory``, ``store``, ``sync_client``, ``clock``); ``fieldkit tui`` passes the
real ones, the tests and the demo pass simulators. This package is the only part of the
kit that imports Textual.
"""
