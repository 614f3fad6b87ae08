"""The ``tasz`` command line: a thin click front end over the tascodec library."""
