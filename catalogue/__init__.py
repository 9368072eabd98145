"""The versioned catalogue of models, and (in ``runtime``) the serving core."""
