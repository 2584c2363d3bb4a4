"""Bodies to articles: feed parsing (full and delta), text and URL normalisation, story
signatures, OPML. Pure: no network, no database.

Imports neither fetch/ nor the orchestration nor a face.
"""
