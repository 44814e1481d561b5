"""Retrieval memory: Chroma collections with sentence-transformers embeddings, and ingestion."""
