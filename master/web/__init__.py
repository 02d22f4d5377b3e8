"""`hamaster web`: the dashboard, read-only over the store, in a process of its own (a slow browser never
touches the master's intake).

    state.py   the site as the dashboard knows it: the latest word of every node, folded forward
    status.py  the status document: groups and their holder now, nodes, open incidents (/api/status)
    watch.py   the thread that follows the store and the control socket, and wakes the open pages
    live.py    the running master's own word (its control socket)
    auth.py    who may read: loopback only, or a token, or users with scrypt-hashed passwords
    app.py     the routes (Starlette + uvicorn), the security headers, server-sent events

Why Starlette + uvicorn: a small, well-kept ASGI pair (uvicorn pure Python over h11 here) whose sync
handlers run in a thread pool, as the store's connections are sync, and whose streaming responses carry
server-sent events without a plugin; about 0.15 s of imports, paid by `hamaster web` alone. The page needs
no JavaScript build: one small hand-written script swaps in the status section the server rendered.
"""
