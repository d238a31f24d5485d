"""FastAPI reports: validated report requests built by Celery, with live progress and download."""
