"""All of the application's Qt code lives in this package, and nowhere else.

Core packages (recorder, kaltura, microsoft, mail, sandbox) are plain Python; the UI
drives them through their events, cancellation and worker helpers.
"""
