"""The Strawberry schema: the contract's types, queries and mutations, one folder a domain.

``schema.root`` assembles them; this package imports nothing so that its modules (such as
the dataloaders the request context needs) can be imported on their own.
"""
