"""Build tooling: run and record notebooks (``pipeline``), prepare an offline room (``workshop``)."""
