"""Emulators of the Google Sheets v4, Google OAuth token and Todoist v1 APIs."""
