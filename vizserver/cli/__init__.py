"""The ``vizserver`` command line."""
