"""Use cases. Each public function takes a session and an Actor and owns its transaction."""
