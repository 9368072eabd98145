"""The versioned catalogue of models: the registry (models, versions, deployments, locations, artifacts, validation)."""
