"""Kaltura: app-token sessions, resumable uploads while recording, entries and links.

Plain Python, no Qt.
"""
