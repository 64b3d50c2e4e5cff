"""The web pages of the connections app, one module per flow.

``pages`` (list, detail, add, edit, delete), ``actions`` (test, authorize, disconnect),
``oauth`` (the OAuth 2.0 callback), ``health`` (/healthz) and ``metrics`` (/metrics).
``connections.urls`` maps them.
"""
