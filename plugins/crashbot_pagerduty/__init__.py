"""Paging through PagerDuty: Events API v2 out, v3 webhooks in.

An incident at a paging level triggers a PagerDuty alert (one ``dedup_key``
per incident, its ref); acknowledging and resolving it in crashbot
acknowledges and resolves the alert; acknowledging or resolving the
PagerDuty incident does the same to the crashbot incident through
``POST /pagerduty/webhook``. See docs/paging.md.
"""

from crashbot_pagerduty.events import dedup_key, enqueue_body
from crashbot_pagerduty.settings import PagerDutyComponent, PagerDutySettings

__all__ = ["PagerDutyComponent", "PagerDutySettings", "dedup_key", "enqueue_body"]
