"""Local development stack: embedded Neo4j 5.26 (Bolt on loopback) and Redis 7, without Docker."""
