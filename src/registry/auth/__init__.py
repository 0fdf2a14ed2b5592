"""Role-scoped API keys: the keys and their storage (keys), who a key is (principal), the HTTP
side (middleware: authentication, guards: roles), and keys made from the command line
(provision)."""
