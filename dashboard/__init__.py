"""Server-rendered pages: Catalogue, model Dashboard, Monitoring and settings."""
