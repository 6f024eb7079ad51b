"""Personalized video emails: templates, rendering, signatures, transports and the outbox.

Plain Python, no Qt.
"""
