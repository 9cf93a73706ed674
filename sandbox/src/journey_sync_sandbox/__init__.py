"""Emulators of the Google Sheets v4, Google OAuth token and Todoist v1 APIs.

The same emulators serve the demo, the end-to-end tests and the benchmark; they follow
the real services' recorded and documented shapes (``tests/recordings``).

Modules (each with one job; import what you need, nothing is imported here so that
``formulas`` stays light for the in-memory fakes):

* ``server``: ``Sandbox`` (the three APIs on one base URL, counters, quotas, fault
  injection, ``write_workdir``), ``serve_main``/``main`` (``journey-sync sandbox serve``).
* ``sheets``: the spreadsheet model and its Python API (``Spreadsheet``,
  ``Worksheet.set_values/evaluated_rows/get_grid/row_colour(s)``, ``Colour``).
* ``sheets_api`` / ``sheets_batch``: the Sheets v4 HTTP routes.
* ``formulas``: the footer's formula subset; ``shift_formula`` for inserted/deleted rows.
* ``values``: what typed text becomes (USER_ENTERED) and how numbers are shown.
* ``a1``: A1 notation. ``fields``: Google field masks.
* ``oauth``: ``ServiceAccount`` (key + key file) and the ``/token`` endpoint.
* ``todoist`` / ``todoist_api``: Todoist state (Python API: ``add_task``, ``complete``,
  ``assign``, ...) and its HTTP routes (``/api/v1/sync`` and REST).
* ``quota``: ``Quota`` (per-user request limits). ``traffic``: counters and request log.
* ``workdir``: the seeded studio sheet and the files journey-sync needs to run.
* ``errors`` / ``web``: error bodies in each service's shape; request/response values.
"""
