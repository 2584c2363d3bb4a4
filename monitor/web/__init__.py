"""The web console, a face of the monitor (see docs/design.md, "The web console").

    server.py     uvicorn in the caller's event loop: `serve`, and `run` with [web] listen
    app.py        the Starlette app and the services handlers share (`Console`)
    pages.py      HTML pages and the actions their forms post (htmx)
    api.py        JSON API, Atom feeds, /metrics, /healthz, /readyz
    security.py   login, basic auth, feed tokens, CSRF, CSP, the loopback host check
    access.py     reader threads, where writes go, the answer cache
    views.py, atom.py, filters.py, metrics.py, playground.py   pure shaping and decisions

Faces import the orchestration (monitor/*.py) and never the reverse; the CLI may start this one.
"""
