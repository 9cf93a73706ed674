"""Adapters: the real services behind the ports (Google Sheets, Todoist)."""
