"""The subcommands of ``sahit``, one module each.

Every module has the same two functions: ``register(subparsers)`` adds the command's parser (named as the
module), and ``run(args) -> int`` does the work and returns the exit status. :func:`sahit.cli.main`
registers them in the order of :data:`COMMANDS` (the order of ``sahit --help``) and calls the ``run`` of the
command given. They parse arguments and call the public API; errors a user can fix are raised as
``ValueError`` / ``FileNotFoundError`` for ``sahit.cli`` to print as one line.
"""

COMMANDS = ("train", "sample", "presets", "zoo", "features", "stats", "eval", "ablate", "attention", "interpolate",
            "report", "data", "explore", "convert")
