"""One module per ``context-encoder`` sub-command, each with ``add_parser(sub)`` and ``run(args)``."""
