"""Logs of a resumed run: rows and TensorBoard events that a launch logged past its last
checkpoint are dropped when the run resumes there, so every step keeps one row, with the values
of an uninterrupted run; the purge of metrics.jsonl on hand-written files, and under a kill."""

import json
import logging
import os
import struct
import sys

import pytest
from tensorboardX.proto import event_pb2

from jaxgan import logs
from jaxgan import train
from tests.test_faults import at_step
from tests.test_faults import fault_config

ROWS = ['{"step": 1, "loss": 0.5}', '{"step": 2, "loss": 0.25}', '{"step": 2, "eval_auc": 0.75}',
        '{"step": 3, "loss": 0.125}', '{"step": 10, "loss": 0.0625}']


class Crash(Exception):
  """Stands in for a kill of the training process."""


def crash(batch):
  del batch
  raise Crash


def write_metrics(path, text):
  with open(path, 'w') as f:
    f.write(text)


def read_text(path):
  with open(path) as f:
    return f.read()


def tensorboard_scalars(logdir, tag):
  """The (step, value) points of `tag` that TensorBoard shows: the event files (TFRecords) read
  in name order, that is in the order they were opened, a SessionLog START at step T hiding the
  points read before it at steps >= T."""
  points = []
  for name in sorted(os.listdir(logdir)):
    data, offset = read_bytes(os.path.join(logdir, name)), 0
    while offset < len(data):
      (length,) = struct.unpack('<Q', data[offset:offset + 8])
      event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
      offset += 12 + length + 4  # length, its CRC, the record, its CRC
      if event.session_log.status == event_pb2.SessionLog.START:
        points = [(step, value) for step, value in points if step < event.step]
      points += [(event.step, value.simple_value) for value in event.summary.value
                 if value.tag == tag]
  return points


def logged_steps(workdir):
  return [row['step'] for row in logs.read_metrics(workdir) if 'critic_loss' in row]


def read_bytes(path):
  with open(path, 'rb') as f:
    return f.read()


@pytest.mark.fast
def test_rows_past_the_step_are_dropped_and_the_rest_kept_as_written(tmp_path):
  path = str(tmp_path / 'metrics.jsonl')
  write_metrics(path, '\n'.join(ROWS) + '\n{"step": 11, "lo')  # the last line cut short
  assert [row['step'] for row in logs.read_metrics(str(tmp_path))] == [1, 2, 2, 3, 10]
  assert logs.drop_rows_after(path, 2) == 3
  assert read_text(path) == '\n'.join(ROWS[:3]) + '\n'
  assert not os.path.exists(path + '.tmp')
  assert logs.drop_rows_after(path, 2) == 0
  assert logs.drop_rows_after(path, 0) == 3
  assert read_text(path) == ''


@pytest.mark.fast
def test_nothing_is_dropped_or_made_when_there_is_nothing_past_the_step(tmp_path):
  path = str(tmp_path / 'metrics.jsonl')
  assert logs.drop_rows_after(path, 0) == 0
  assert not os.path.exists(path)
  write_metrics(path, '\n'.join(ROWS) + '\n')
  before = os.stat(path)
  assert logs.drop_rows_after(path, 10) == 0
  assert read_text(path) == '\n'.join(ROWS) + '\n'
  assert os.stat(path).st_mtime_ns == before.st_mtime_ns  # not rewritten


@pytest.mark.fast
@pytest.mark.parametrize('killed_in', ['fsync', 'replace'])
def test_a_kill_during_the_purge_leaves_the_file_whole(tmp_path, monkeypatch, killed_in):
  path = str(tmp_path / 'metrics.jsonl')
  write_metrics(path, '\n'.join(ROWS) + '\n')
  monkeypatch.setattr(logs.os, killed_in, lambda *args: crash(None))
  with pytest.raises(Crash):
    logs.drop_rows_after(path, 1)
  assert read_text(path) == '\n'.join(ROWS) + '\n'
  monkeypatch.undo()
  assert logs.drop_rows_after(path, 1) == 4  # the next launch purges (and replaces the .tmp)
  assert read_text(path) == ROWS[0] + '\n'


def test_a_run_stopped_between_checkpoints_logs_each_step_once_on_resuming(
    tmp_path, monkeypatch):
  config = fault_config(num_steps=4)  # logs every step, checkpoints 2 and 4
  straight = str(tmp_path / 'straight')
  train.train_and_evaluate(config, straight)
  resumed = str(tmp_path / 'resumed')
  at_step(monkeypatch, 3, crash)  # steps 1-3 logged, checkpoint 2 saved
  with pytest.raises(Crash):
    train.train_and_evaluate(config, resumed)
  assert logged_steps(resumed) == [1, 2, 3]
  monkeypatch.undo()
  train.train_and_evaluate(config, resumed)  # from checkpoint 2: logs 3 again, then 4

  assert logs.read_metrics(resumed) == logs.read_metrics(straight)  # bitwise: JSON floats
  assert logged_steps(resumed) == [1, 2, 3, 4]
  shown = tensorboard_scalars(os.path.join(resumed, 'tensorboard'), 'critic_loss')
  assert len(os.listdir(os.path.join(resumed, 'tensorboard'))) == 2  # one events file a launch
  assert shown == tensorboard_scalars(os.path.join(straight, 'tensorboard'), 'critic_loss')
  assert [step for step, _ in shown] == [1, 2, 3, 4]


def library_record(path: str, level: int) -> logging.LogRecord:
  try:
    raise OSError(28, 'No space left on device')
  except OSError:
    return logging.LogRecord('absl', level, path, 1, 'save failed', (), sys.exc_info())


@pytest.mark.fast
def test_library_chatter_is_dropped_and_library_errors_lose_their_traceback():
  quiet = logs.QuietLibraries()
  assert not quiet.filter(library_record('/venv/orbax/checkpoint/future.py', logging.INFO))
  error = library_record('/venv/orbax/checkpoint/future.py', logging.ERROR)
  assert quiet.filter(error) and error.exc_info is None
  assert logging.Formatter().format(error) == 'save failed'
  ours = library_record('/work/jaxgan/train.py', logging.ERROR)
  assert quiet.filter(ours) and ours.exc_info is not None


def test_the_training_clock_counts_on_from_the_last_row_at_or_before_the_resumed_step(tmp_path):
  rows = [{'step': 10, 'train_seconds': 5.0}, {'step': 12, 'loss': 1.0},
          {'step': 20, 'train_seconds': 9.0}]
  with open(tmp_path / 'metrics.jsonl', 'w') as f:
    f.writelines(json.dumps(row) + '\n' for row in rows)
  clock = logs.TrainingClock(str(tmp_path), first_step=15)
  clock.exclude(0.5)
  assert 4.5 <= clock.seconds() < 5.0
  assert logs.TrainingClock(str(tmp_path / 'new'), first_step=0).seconds() < 0.5
