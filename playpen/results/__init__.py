"""Results folders in clembench's layout: reading them (``records``: files, episodes, recorded messages),
writing them (``store``: atomic writes, resume, locking, rebuilt transcripts) and rendering HTML transcripts
(``transcript``)."""
