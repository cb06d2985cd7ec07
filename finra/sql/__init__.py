"""The FINRA stages as SQL run inside the database (``stages``), portable across backends
(``dialect``)."""
