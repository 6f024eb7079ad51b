"""Widgets of our own: the live preview, the level meter, the trim slider, recipient chips."""
