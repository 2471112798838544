"""How the command-line entry points start, and how they end: one line for a user's error, and no
process left behind by a stuck thread.

Each entry point (`jaxgan.main`, `generate`, `evaluate`, `ablate`, `reproduce`, `benchmark`,
`render_probe`) has a `_define_flags()` returning its flags by name and a `main(values)` taking
their values, and ends in `cli.run(main, _define_flags)`. The flags are defined only when the
module runs as a command, not when it is imported: the commands share flag names (--config,
--workdir, --seed, ...), absl refuses a name that two modules define (`DuplicateFlagError`), and
the tests import several entry points in one process.

How a command ends:
- A user's error (`USER_ERRORS`: a bad config value, data file or request, a missing or
  unwritable file, a full disk, a busy folder) prints its message, `jaxgan.main: <what is
  wrong>`, and exits with status 1; `--verbosity=1` logs its traceback too. Anything else is a
  bug and prints its traceback.
- A thread that is not a daemon and outlives the command (a background save of a library that
  waits forever for a signal from a failed operation) would keep the process alive after its
  main thread ended. After `THREAD_GRACE_S` such threads are abandoned: the process exits with the
  command's status (`os._exit`), naming them, so that a batch job never holds its machine.
"""

import contextlib
import errno
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from jaxgan import locks
from jaxgan import logs

FlagValues = dict[str, Any]
USER_ERRORS = (ValueError, OSError, locks.Busy)
THREAD_GRACE_S = 10.0


def run(main: Callable[[FlagValues], None],
        define_flags: Callable[[], dict[str, flags.FlagHolder]]) -> None:
  """Defines the flags, parses the command line, and calls `main` with the flags' values.

  Args:
    main: the command; it takes flag name -> value.
    define_flags: defines the command's flags and returns them by name.
  """
  holders = define_flags()
  command = command_name()

  def main_of_argv(argv: list[str]) -> None:
    if len(argv) > 1:
      raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    logging.get_absl_handler().addFilter(logs.QuietLibraries())
    try:
      check_config_files(holders)
      main({name: holder.value for name, holder in holders.items()})
    except USER_ERRORS as error:
      logging.debug('%s failed', command, exc_info=True)
      raise SystemExit(f'{command}: {describe(error)}') from error

  try:
    app.run(main_of_argv)
  except BaseException as ending:  # pylint: disable=broad-except  # re-raised unless stuck
    exit_if_threads_stick(ending, THREAD_GRACE_S)
    raise


def check_config_files(holders: dict[str, flags.FlagHolder]) -> None:
  """Fails with one line for a config-file flag that names no file (ml_collections reports it as
  'Failed loading config file config_config')."""
  for name in holders:
    try:
      path = config_flags.get_config_filename(flags.FLAGS[name])
    except TypeError:  # not a config-file flag
      continue
    if path and not os.path.isfile(path):
      raise FileNotFoundError(f'--{name}={path}: no such file')


def describe(error: BaseException) -> str:
  """The message of a user's error; a full disk says so, whatever wrote."""
  if isinstance(error, OSError) and error.errno == errno.ENOSPC and 'disk full' not in str(error):
    return f'disk full: {error}'
  return str(error)


def command_name() -> str:
  """The running command's module, like 'jaxgan.main' (`python -m jaxgan.main`)."""
  spec = getattr(sys.modules['__main__'], '__spec__', None)
  return spec.name if spec else os.path.basename(sys.argv[0])


def stuck_threads(grace_s: float) -> list[threading.Thread]:
  """The non-daemon threads besides this one that are still alive after waiting up to `grace_s`
  seconds (together) for them to end."""
  deadline = time.monotonic() + grace_s
  others = [thread for thread in threading.enumerate()
            if thread is not threading.current_thread() and not thread.daemon]
  for thread in others:
    with contextlib.suppress(TimeoutError):  # Orbax's threads raise it from `join(timeout)`
      thread.join(max(0.0, deadline - time.monotonic()))
  return [thread for thread in others if thread.is_alive()]


def exit_if_threads_stick(ending: BaseException, grace_s: float) -> None:
  """Ends the process at once, with the status `ending` would give, when threads that the
  interpreter would wait for are still alive after `grace_s` seconds; returns otherwise."""
  stuck = stuck_threads(grace_s)
  if not stuck:
    return
  status = report_ending(ending)
  print(f'{command_name()}: {len(stuck)} thread(s) still running after the command ended '
        f'({", ".join(thread.name for thread in stuck)}); exiting with status {status}',
        file=sys.stderr)
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(status)  # pylint: disable=protected-access  # the interpreter would wait forever


def report_ending(ending: BaseException) -> int:
  """Prints what the interpreter would print for `ending` (the SystemExit message, or the
  traceback) and returns the exit status it would give."""
  if isinstance(ending, SystemExit):
    if ending.code is None or isinstance(ending.code, int):
      return ending.code or 0
    print(ending.code, file=sys.stderr)
    return 1
  traceback.print_exception(ending)
  return 130 if isinstance(ending, KeyboardInterrupt) else 1
