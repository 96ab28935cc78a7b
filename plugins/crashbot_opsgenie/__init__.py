"""Paging through Opsgenie: the Alert API out, its outgoing webhook in.

An incident at a paging level creates an Opsgenie alert (one ``alias`` per
incident, its ref, priority from the severity: SEV1 → P1); acknowledging
and resolving it in crashbot acknowledges and closes the alert;
acknowledging or closing the alert in Opsgenie does the same to the
crashbot incident through ``POST /opsgenie/webhook``. See docs/paging.md.
"""

from crashbot_opsgenie.alerts import alert_request, alias
from crashbot_opsgenie.settings import OpsgenieComponent, OpsgenieSettings

__all__ = ["OpsgenieComponent", "OpsgenieSettings", "alert_request", "alias"]
