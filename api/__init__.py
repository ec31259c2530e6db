"""The ASGI app: routes, auth, request context, settings and the command line."""
