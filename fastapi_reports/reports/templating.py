"""Jinja2 templates, with the settings at hand for the cross-links."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from reports.config import settings

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["settings"] = settings
