"""The wire: polite HTTP fetching of feeds and pages, the fetch-and-parse worker processes,
the SSRF guard, feed discovery and dry checks, outage detection.

Imports parse/ (the workers parse what they fetch), never the orchestration or a face.
"""
