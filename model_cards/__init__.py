"""Model-card templates (Jinja2), shipped as package data and read with jinja2's PackageLoader."""
