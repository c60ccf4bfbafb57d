"""Tokenizer backends: one small module each behind the ``TokenizerBackend`` protocol."""
