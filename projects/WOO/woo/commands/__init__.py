"""The ``woo`` sub-commands, one module each: ``add_arguments(parser)`` and ``main(args) -> int``."""
