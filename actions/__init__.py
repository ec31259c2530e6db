"""Every write use-case of the product, one function each, one module per domain.

An action validates its input, takes the rate limit, runs one Neo4j transaction whose
body is a named function in ``graph/``, and then its effects on Redis
(``actions/effects.py``). GraphQL mutations and the platform's event stream call these;
nothing else writes.
"""
