"""Neo4j: the connection, migrations and the Cypher of each domain."""
