"""Prefect wiring for gan-aug: tasks call library functions, nothing else.

Offline defaults are set before Prefect is imported: its telemetry cannot reach the
network here, and the embedded server can take longer than its default to start on
a busy 2-core machine.
"""
import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
