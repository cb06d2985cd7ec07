"""Read-only REST API over the FINRA datasets (``/api/v1/finra/``)."""
