"""Tests of the alert intake (plugins/crashbot_alerts) and alert routing."""
