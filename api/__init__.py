"""The REST API (DRF), chantilly-compatible routes and live consumers."""
