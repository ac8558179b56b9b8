"""Demo and test sample generators (events, files, an API stand-in, DMS output): not on the lake's path."""
