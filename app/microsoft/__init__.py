"""Microsoft 365: MSAL sign-in, the encrypted token cache, the Graph client, recipient search.

Plain Python, no Qt.
"""
