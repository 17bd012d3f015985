"""The owner's dashboard: server-rendered pages on their own listen address (`[dashboard]`),
behind a login.

    passwords.py  argon2 hashes, account names and roles
    accounts.py   `quittance admin add-user` and friends
    sessions.py   signed, expiring session cookies backed by a row; CSRF of every form
    pages.py      the shared page frame: branding, wording, private headers
    app.py        the FastAPI app: login, logout, the guard, each view's routes
    views/        one module per page (overview, documents, failures, deliveries, integrity,
                  satisfaction, exports, audit)

Every action an owner takes goes through what the CLI calls (bridge/corrections.py,
bridge/overview.py: durable jobs) and leaves a "dashboard.*" event in the append-only log.
"""
