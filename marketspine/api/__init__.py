"""What every API of the project shares: authentication, the JSON parser, the one error shape,
permission checks and query parsing. Nothing here knows a domain."""
