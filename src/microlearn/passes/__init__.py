"""IR -> IR passes shared by every backend."""
