"""The command line, a face of the monitor: `minerals-monitor` and its sub-commands (main.py).

Faces import the orchestration (monitor/*.py) and never the reverse.
"""
