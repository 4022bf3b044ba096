"""Playing episodes: the engine (many episodes at once, lockstep batches for local models, asyncio for servers),
``apply_reply`` (the one place a reply reaches a game master) and ``playpen run``'s planner (instance selection,
resume, results)."""
