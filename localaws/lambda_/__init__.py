"""Local Lambda: functions registered from a zip, run by warm worker processes.

``backend.py`` is the API (``LambdaBackend``: create/get/list/update/delete function, invoke);
``worker.py`` is the worker process and the parent's handle on it.
"""
