"""Monitoring: metric history, latency, Prometheus export, alerts and live streams."""
