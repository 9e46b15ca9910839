"""Load documents, chunk them, embed them and store them in Qdrant."""
