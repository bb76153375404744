"""The read path as it was before issue 14 (see the modules): the fuzz test's reference."""
