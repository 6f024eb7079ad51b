"""The built-in sandbox: local servers that speak the Kaltura API v3, Microsoft Graph and
Microsoft identity wire protocols, so the app works end to end with no cloud account and
every integration test runs against something real.

Plain Python, no Qt.
"""
