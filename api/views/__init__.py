"""DRF views of the REST API, one module per route group (catalogue, serving, …)."""
