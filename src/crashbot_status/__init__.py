"""crashbot_status: the public status site, JSON APIs, admin API, health and metrics (Flask).

``create_app()`` builds the app; ``crashbot serve`` runs it with the worker,
and ``flask --app crashbot_status run`` finds the factory too.
"""

from __future__ import annotations

from crashbot_status.app import create_app

__all__ = ["create_app"]
