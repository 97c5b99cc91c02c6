"""IR -> IR (or IR -> derived tables) steps shared by every backend; no C text here."""
