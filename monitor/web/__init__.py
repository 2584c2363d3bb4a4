"""The web console, a face of the monitor (the home of the console; see docs/design.md).

Faces import the orchestration (monitor/*.py) and never the reverse.
"""
