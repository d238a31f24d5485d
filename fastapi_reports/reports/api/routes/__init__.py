"""One router per resource: health, auth, pages, reports (the API)."""
