"""A simulated ANSI C12.18 meter serving C12.19 tables built from a scenario.

``link`` (meter-side link layer), ``services`` (request parsing, responses), ``tables``
(C12.19 encoders), ``sources`` (what each source measures: ST11/12/16), ``physics`` (load,
energy, clock, events), ``faults`` and ``meter`` (the session state machine) are sans-I/O;
``options`` merges run options with the scenario; ``pacing`` models the line speed;
``server`` is the only I/O (TCP listener or pty, one thread). See ``docs/simulators.md``.
"""
