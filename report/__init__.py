"""The HTML report of a validation (``report.html``)."""
