"""Recorded episodes (ours or clembench's) -> each player's conversation -> SFT rows and DPO pairs in TRL's shapes."""
