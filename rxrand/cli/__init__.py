"""The command-line programs: ``rxrand-server`` (with its worker pool) and ``rxrand-client``.

The top layer: :mod:`rxrand.cli.server` (arguments, ``serve``, ``main``),
:mod:`rxrand.cli.supervisor` (a generic pool of worker processes on one port),
:mod:`rxrand.cli.worker` (one worker) and :mod:`rxrand.cli.client`. Nothing below imports it.
"""
