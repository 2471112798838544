"""Exclusive locks on folders: one training run per workdir, one evaluation per eval/ folder.

`held(directory, what)` takes `fcntl.flock` on `<directory>/.lock` for the length of a block.
The kernel releases it when the process ends, however it ends (SIGKILL included), so no stale
lock is ever left behind. While held, the file names the holder's pid and host, which a refused
second process reports. Reading a run (`jaxgan.generate`) takes no lock.
"""

import contextlib
import fcntl
import os
import socket
from typing import Iterator

LOCK_FILE = '.lock'


class Busy(RuntimeError):
  """Another process holds the folder's lock."""


@contextlib.contextmanager
def held(directory: str, what: str) -> Iterator[None]:
  """Holds the lock of `directory` (which must exist) while the block runs.

  Args:
    directory: the folder to lock.
    what: what holds it, for the message of a refused process (e.g. 'a training run').

  Raises:
    Busy: another process holds it; the message names the folder and the holder's pid and host.
  """
  with open(os.path.join(directory, LOCK_FILE), 'a+') as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      lock.seek(0)
      holder = lock.read().strip() or 'another process'
      raise Busy(f'{directory} is in use by {what} ({holder}): wait for it to end, or use '
                 'another folder') from None
    lock.truncate(0)
    lock.write(f'pid {os.getpid()} on {socket.gethostname()}')
    lock.flush()
    try:
      yield
    finally:
      lock.truncate(0)
