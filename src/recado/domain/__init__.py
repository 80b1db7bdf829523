"""Pure rules of the SMS domain: no I/O, no database, exhaustively tested."""
