"""How the command-line entry points start: flags defined when run, then one library call.

Each entry point (`jaxgan.main`, `generate`, `evaluate`, `ablate`, `reproduce`, `benchmark`,
`render_probe`) has a `_define_flags()` returning its flags by name and a `main(values)` taking
their values, and ends in `cli.run(main, _define_flags)`. The flags are defined only when the
module runs as a command, not when it is imported: the commands share flag names (--config,
--workdir, --seed, ...), absl refuses a name that two modules define (`DuplicateFlagError`), and
the tests import several entry points in one process.
"""

from typing import Any, Callable

from absl import app
from absl import flags
from absl import logging

from jaxgan import logs

FlagValues = dict[str, Any]


def run(main: Callable[[FlagValues], None],
        define_flags: Callable[[], dict[str, flags.FlagHolder]]) -> None:
  """Defines the flags, parses the command line, and calls `main` with the flags' values.

  Args:
    main: the command; it takes flag name -> value.
    define_flags: defines the command's flags and returns them by name.
  """
  holders = define_flags()

  def main_of_argv(argv: list[str]) -> None:
    if len(argv) > 1:
      raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    logging.get_absl_handler().addFilter(logs.QuietLibraries())
    main({name: holder.value for name, holder in holders.items()})

  app.run(main_of_argv)
