"""journey-sync: a client's journey from a Google Sheet into Todoist and back."""

__version__ = "0.1.0"
