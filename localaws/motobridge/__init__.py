"""moto's backends mounted behind the local server, durable in the state directory.

* :mod:`.services` - which services are mounted (``moto=True`` in :mod:`localaws.registry`)
  and how a request finds one;
* :mod:`.bridge` - :class:`MotoBridge`: dispatch to moto, journal, replay, observers;
* :mod:`.journal` - the journal of mutating calls;
* :mod:`.determinism` - seeded ids and a frozen clock, so a replay repeats a call exactly;
* :mod:`.adaptations` - where moto behind the server differs from ``mock_aws``;
* :mod:`.backend` - :class:`MotoBackend`: a mounted service as a runtime backend.
"""
