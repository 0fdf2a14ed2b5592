"""Role-scoped API keys: the keys and their storage (keys), who a key is (principal), the HTTP
side (middleware: authentication; guards: the role checks, each route's before_request hook),
and keys made from the command line (provision)."""
