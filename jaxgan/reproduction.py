"""Checks that a short training reproduces: twice, interrupted and resumed, on one device, and
killed at random moments (the soak).

`reproduce(config, workdir, ...)` does it for `python -m jaxgan.reproduce`. Runs, each in its own
folder under the workdir, each from its initialisation (the folders must not exist yet):
  a/  the config as given
  b/  the same again, its own auxiliary predictor included
  c/  the same trained to half the steps (train.num_steps // 2), then launched again with the
      full length: it resumes from the checkpoint of the half step (the last step of a launch is
      always checkpointed; that it resumed there is checked, not assumed)
  d/  only when a/ trained on more than one device: the same on 1 device (train.num_devices=1)
      with the same global batch

c and d load a/'s auxiliary predictor (when the config trains one into its run folder), so they
test the GAN's resume and device count alone; b trains its own, so a vs b covers it too. The
checkpoint schedule is left as configured: it does not change the state.

Comparisons (<workdir>/reproduce.json; `format_report` gives a short report):
  a vs b state, a vs c state     bitwise: every leaf of the final states has the same dtype,
                                 shape and bytes (0.0 and -0.0 differ, equal NaNs agree)
  a vs b metrics                 bitwise: metrics.jsonl gives the same value for every (step,
                                 name), and both runs log the same ones
  a vs c metrics                 bitwise: every (step, name) a logs, c logs with the same value
                                 (c logs a few more: the last step of its first launch and the
                                 first of its second)
  a vs d state                   within tolerance (RTOL, ATOL, as in tests/test_train.py): the
                                 largest absolute difference and the first leaf outside it
Each comparison names the first difference it finds (the leaf path, or the step and metric).
The report's `passed` is false (the command's exit status 1) when a bitwise comparison or a check
of the soak (below) fails.
The tolerance comparison is reported only: differences between device counts start at rounding
level and may grow over many steps of a GAN, so a failure there is a warning about the run
length, not a bug by itself.

The soak (`kills` > 0): one more run,
  s/  the config as given, its own auxiliary predictor included, trained by the command
      `python -m jaxgan.main` (the flags that give it this config come from the caller) in a
      child process with this process's environment, SIGKILLed `kills` times and launched
      again after each kill until a launch completes
Kill k falls at a moment drawn uniformly in the k-th of `kills` equal slices of a's wall time,
counted from s's first launch (a numpy Generator seeded with `kill_seed`). A launch does all
that a does and starts an interpreter too, and each kill costs another start and the steps since
the last checkpoint, so the kills fall before s completes unless its launches run much faster
than a did (on a machine whose load changed); a kill still due when s completes is not made, and
the report says how many were. Kills land anywhere: while a launch starts, restores, trains, or
writes a checkpoint (each kill is reported with the newest saved checkpoint, the newest logged
step and whether a checkpoint was being written). Kills closer together than a launch's start-up
(imports and compilation, seconds) hit launches still starting: choose `kills` to leave
training time between them. A log line tells each kill; the children's output goes to
<workdir>/soak.log. Checks:
  s completed                    the last launch exited 0, and s's config.json holds the same
                                 configuration as a's
  a vs s state                   bitwise (s's newest checkpoint, which is its final step's)
  a vs s metrics                 bitwise, as a vs c (s logs the first step of each launch too)
  s one row per logged step      no (step, name) in more than one row of s's metrics.jsonl, and
                                 every step a logs is there: lists `duplicate_steps` and
                                 `missing_steps`
"""

import collections
import functools
import json
import math
import os
import subprocess
import sys
import time
from typing import Any, BinaryIO, Sequence

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from jaxgan import assembly
from jaxgan import checkpoint
from jaxgan import configs
from jaxgan import logs
from jaxgan import train

PyTree = Any

RUNS = ('a', 'b', 'c', 'd', 's')
REPORT_FILE = 'reproduce.json'
SOAK_LOG = 'soak.log'  # the soak's children's output, in the workdir
RTOL, ATOL = 2e-4, 2e-5  # 1 device against several (tests/test_train.py)


def first_difference(a: PyTree, b: PyTree) -> str | None:
  """The path of the first leaf where two pytrees differ bitwise (dtype, shape or bytes), 'tree
  structure' when their structures differ, None when they are bitwise equal."""
  leaves_a, structure_a = jax.tree_util.tree_flatten_with_path(a)
  leaves_b, structure_b = jax.tree_util.tree_flatten_with_path(b)
  if structure_a != structure_b:
    return 'tree structure'
  for (path, x), (_, y) in zip(leaves_a, leaves_b):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
      return jax.tree_util.keystr(path)
  return None


def tolerance_difference(a: PyTree, b: PyTree, rtol: float = RTOL,
                         atol: float = ATOL) -> tuple[float, str | None]:
  """The largest absolute difference over all leaves (as float64), and the path of the first
  leaf not `np.allclose(rtol, atol)` ('tree structure' when the structures differ; else None)."""
  leaves_a, structure_a = jax.tree_util.tree_flatten_with_path(a)
  leaves_b, structure_b = jax.tree_util.tree_flatten_with_path(b)
  if structure_a != structure_b:
    return math.inf, 'tree structure'
  largest, first = 0.0, None
  for (path, x), (_, y) in zip(leaves_a, leaves_b):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
      return math.inf, jax.tree_util.keystr(path)
    largest = max(largest, float(np.max(np.abs(x - y), initial=0.0)))
    if first is None and not np.allclose(x, y, rtol=rtol, atol=atol):
      first = jax.tree_util.keystr(path)
  return largest, first


def logged_values(workdir: str) -> dict[tuple[int, str], Any]:
  """(step, name) -> value of the run's metrics.jsonl (a later row wins)."""
  return {(row['step'], name): value for row in logs.read_metrics(workdir)
          for name, value in row.items() if name != 'step'}


def _same(x: Any, y: Any) -> bool:
  """Bitwise equality of two logged values (equal NaNs agree)."""
  return type(x) is type(y) and (x == y or isinstance(x, float) and math.isnan(x)
                                 and math.isnan(y))


def first_metric_difference(reference: dict[tuple[int, str], Any],
                            other: dict[tuple[int, str], Any], same_keys: bool) -> str | None:
  """The first (step, name) of `reference` that `other` lacks or logs differently, as text; with
  `same_keys`, also one that only `other` logs. None when none is found."""
  for key in sorted(reference):
    if key not in other:
      return f'step {key[0]} {key[1]}: missing'
    if not _same(reference[key], other[key]):
      return f'step {key[0]} {key[1]}: {reference[key]!r} != {other[key]!r}'
  extra = sorted(other.keys() - reference.keys()) if same_keys else []
  return f'step {extra[0][0]} {extra[0][1]}: only in one run' if extra else None


def _bitwise_checks(name: str, states: dict[str, PyTree], workdir: str,
                    same_keys: bool) -> list[dict]:
  """The state and metrics comparisons of run `name` with run a."""
  logged = {run: logged_values(os.path.join(workdir, run)) for run in ('a', name)}
  found = {'state': first_difference(states['a'], states[name]),
           'metrics': first_metric_difference(logged['a'], logged[name], same_keys)}
  return [{'name': f'a vs {name} {what}', 'kind': 'bitwise', 'passed': difference is None,
           'first_difference': difference} for what, difference in found.items()]


def _tolerance_check(states: dict[str, PyTree]) -> dict:
  largest, first = tolerance_difference(states['a'], states['d'])
  return {'name': 'a vs d state', 'kind': 'tolerance', 'passed': first is None,
          'first_difference': first, 'max_abs_difference': largest, 'rtol': RTOL, 'atol': ATOL}


def check_start(config: ml_collections.ConfigDict, workdir: str) -> int:
  """The step at which run c is interrupted (half the steps).

  Raises:
    ValueError: a config or workdir that cannot give a meaningful check.
  """
  if config.train.num_epochs:
    raise ValueError(f'train.num_epochs={config.train.num_epochs}: give the length as '
                     'train.num_steps (and num_epochs=0), which the interrupted run halves')
  if config.train.num_steps < 2:
    raise ValueError(f'train.num_steps={config.train.num_steps}: need >= 2 to interrupt a run')
  existing = [run for run in RUNS if os.path.exists(os.path.join(workdir, run))]
  if existing:
    raise ValueError(f'{workdir} already holds {existing}: every run must start afresh; '
                     'use another --workdir or delete them')
  return config.train.num_steps // 2


def _shared_predictor(config: ml_collections.ConfigDict, workdir: str) -> dict[str, str]:
  """The override that makes c and d load a/'s predictor (none when a/ trains none of its own)."""
  if config.predictor.checkpoint or not assembly.conditioning_of(config).uses_predictor:
    return {}
  return {'predictor.checkpoint': os.path.abspath(os.path.join(workdir, 'a', 'predictor'))}


def _resumed(config: ml_collections.ConfigDict, workdir: str, half: int,
             shared: dict[str, str]) -> PyTree:
  """Run c: trained to `half`, then relaunched to the end; returns its final state."""
  halfway = configs.with_overrides(config, {'train.num_steps': half, **shared})
  train.train_and_evaluate(halfway, workdir)
  saved = checkpoint.latest_saved_step(checkpoint.directory_of(workdir))
  if saved != half:
    raise RuntimeError(f'{workdir}: the interrupted run saved step {saved}, not {half}')
  return train.train_and_evaluate(configs.with_overrides(config, shared), workdir)


def kill_times(kills: int, span: float, seed: int) -> list[float]:
  """The soak's kill moments in seconds: one drawn uniformly in each of `kills` equal slices of
  `span` (a numpy Generator seeded with `seed`), in order."""
  draws = np.random.default_rng(seed).uniform(size=kills)
  return [float(t) for t in span * (np.arange(kills) + draws) / kills]


def run_until(command: list[str], log: BinaryIO, seconds: float | None) -> int | None:
  """Runs `command`, its output to `log`, to its end, or SIGKILLs it after `seconds` (None:
  never); returns its exit status, or None when it killed it."""
  with subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT) as process:
    try:
      return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait()
      return None


def _kill_record(workdir: str, seconds: float) -> dict:
  """What the run in `workdir` had made when a kill at `seconds` fell."""
  directory = checkpoint.directory_of(workdir)
  rows = logs.read_metrics(workdir)
  return {'at_s': round(seconds, 2), 'saved_step': checkpoint.latest_saved_step(directory),
          'logged_step': max((row['step'] for row in rows), default=None),
          'writing_checkpoint': os.path.isdir(directory)
                                and bool(ocp.utils.tmp_checkpoints(directory))}


def soak(command: list[str], workdir: str, times: list[float], log_path: str) -> dict:
  """Launches `command`, the training of the run in `workdir`, until a launch ends by itself:
  SIGKILLs it at each of `times` (seconds from the first launch) and launches it again. The
  launches' output is appended to `log_path`.

  Returns:
    `planned_kills` (how many `times`), `kills` (a `_kill_record` for each kill made; a kill
    still due when a launch completes is not made), `launches`, `status` (the last launch's exit
    status), `wall_s`.
  """
  start, kills, status = time.monotonic(), [], None
  with open(log_path, 'ab') as log:
    while status is None:
      log.write(f'--- launch {len(kills) + 1}\n'.encode())
      log.flush()
      status = run_until(command, log, _seconds_to(times[len(kills):], start))
      if status is None:
        kills.append(_kill_record(workdir, time.monotonic() - start))
        logging.info('Soak: kill %d of %d at %.1f s: %s; launch %d', len(kills), len(times),
                     kills[-1]['at_s'], _describe_kill(kills[-1]), len(kills) + 1)
  return {'planned_kills': len(times), 'kills': kills, 'launches': len(kills) + 1,
          'status': status, 'wall_s': round(time.monotonic() - start, 1)}


def _seconds_to(times: list[float], start: float) -> float | None:
  """Seconds from now to the first of `times` (seconds after `start`; 0 when past), None when
  there are none."""
  return max(times[0] - (time.monotonic() - start), 0.0) if times else None


def _describe_kill(kill: dict) -> str:
  """Like 'checkpoint 6 saved, step 8 logged, a checkpoint being written'."""
  saved = 'no checkpoint' if kill['saved_step'] is None else f'checkpoint {kill["saved_step"]}'
  logged = 'no step' if kill['logged_step'] is None else f'step {kill["logged_step"]}'
  writing = ', a checkpoint being written' if kill['writing_checkpoint'] else ''
  return f'{saved} saved, {logged} logged{writing}'


def row_check(reference: str, workdir: str) -> dict:
  """The check 's one row per logged step' of the run in `workdir`: no (step, name) of its
  metrics.jsonl is in several rows, and every step that the run in `reference` logs is there."""
  counts = collections.Counter((row['step'], name) for row in logs.read_metrics(workdir)
                               for name in row if name != 'step')
  repeated = sorted(key for key, count in counts.items() if count > 1)
  missing = sorted({step for step, _ in logged_values(reference)} - {step for step, _ in counts})
  first = (f'step {repeated[0][0]} {repeated[0][1]}: {counts[repeated[0]]} rows' if repeated
           else f'step {missing[0]}: missing' if missing else None)
  return {'name': 's one row per logged step', 'kind': 'exact', 'passed': first is None,
          'first_difference': first, 'duplicate_steps': sorted({step for step, _ in repeated}),
          'missing_steps': missing}


def _completion_check(config: ml_collections.ConfigDict, workdir: str, soaked: dict) -> dict:
  """The check 's completed': the last launch exited 0, having trained `config`."""
  differences = list(train.saved_config_differences(config, workdir).items())
  first = (f'launch {soaked["launches"]} exited with status {soaked["status"]} (see {SOAK_LOG})'
           if soaked['status'] else
           f'{differences[0][0]}: {differences[0][1][0]!r} in its config.json, '
           f'{differences[0][1][1]!r} given' if differences else None)
  return {'name': 's completed', 'kind': 'exact', 'passed': first is None,
          'first_difference': first}


def _soak_run(config: ml_collections.ConfigDict, workdir: str, states: dict[str, PyTree],
              config_flags: Sequence[str], times: list[float]) -> tuple[dict, list[dict]]:
  """Run s, soaked (killed at `times`): its record (`soak`) and its checks."""
  run_dir = os.path.join(workdir, 's')
  command = [sys.executable, '-m', 'jaxgan.main', *config_flags, f'--workdir={run_dir}']
  logging.info('Soak: kills at %s s in %s', ', '.join(f'{t:.1f}' for t in times), run_dir)
  soaked = soak(command, run_dir, times, os.path.join(workdir, SOAK_LOG))
  checks = [_completion_check(config, run_dir, soaked)]
  if not checks[0]['passed']:
    return soaked, checks
  restorer = checkpoint.Checkpointer(checkpoint.directory_of(run_dir), config.train.max_to_keep)
  try:  # zeros when s saved nothing
    states['s'] = restorer.restore_or(jax.tree.map(np.zeros_like, states['a']))
  finally:
    restorer.close()
  return soaked, (checks + _bitwise_checks('s', states, workdir, same_keys=False)
                  + [row_check(os.path.join(workdir, 'a'), run_dir)])


def reproduce(config: ml_collections.ConfigDict, workdir: str, kills: int = 0,
              config_flags: Sequence[str] = (), kill_seed: int = 0) -> dict:
  """Trains runs a, b, c (and d, s) in `workdir`, compares them, writes reproduce.json.

  Args:
    config: the run's config (locked).
    workdir: a folder without the runs' subfolders a/, b/, c/, d/, s/.
    kills: how often the soak kills run s (0: no soak).
    config_flags: with `kills`, the command-line flags that give `python -m jaxgan.main` this
      config (`--config=<file>`, then `--config.<field>=<value>` for each override).
    kill_seed: the seed of the kill moments.

  Returns:
    The report: the runs' facts, `checks` (each with `name`, `kind` 'bitwise', 'exact' or
    'tolerance', `passed`, `first_difference`; the tolerance one with `max_abs_difference`,
    `rtol`, `atol`), `soak` (with `kills`: `soak`'s record) and `passed`, whether every check
    but the tolerance one passed.
  """
  half = check_start(config, workdir)
  shared = _shared_predictor(config, workdir)
  run_dir = functools.partial(os.path.join, workdir)
  start = time.monotonic()
  states = {'a': train.train_and_evaluate(config, run_dir('a'))}
  span = time.monotonic() - start  # a's wall time, over which the soak spreads its kills
  states['b'] = train.train_and_evaluate(config, run_dir('b'))
  states['c'] = _resumed(config, run_dir('c'), half, shared)
  checks = (_bitwise_checks('b', states, workdir, same_keys=True)
            + _bitwise_checks('c', states, workdir, same_keys=False))
  devices = len(train.select_devices(config.train.num_devices))
  if devices > 1:
    one_device = configs.with_overrides(config, {'train.num_devices': 1, **shared})
    states['d'] = train.train_and_evaluate(one_device, run_dir('d'))
    checks.append(_tolerance_check(states))
  report = {'workdir': workdir, 'num_steps': config.train.num_steps, 'resumed_at': half,
            'devices': devices}
  if kills:
    report['soak'], soak_checks = _soak_run(config, workdir, states, config_flags,
                                            kill_times(kills, span, kill_seed))
    checks += soak_checks
  report.update(checks=checks, passed=all(check['passed'] for check in checks
                                          if check['kind'] != 'tolerance'))
  with open(run_dir(REPORT_FILE), 'w') as f:
    json.dump(report, f, indent=2)
  return report


def format_report(report: dict) -> str:
  """A few lines: one per comparison, PASS or FAIL with its first difference, then the verdict."""
  lines = [f'jaxgan.reproduce: {report["workdir"]}: {report["num_steps"]} steps, resumed at '
           f'{report["resumed_at"]}, {report["devices"]} device(s)']
  if 'soak' in report:
    lines.append(_describe_soak(report['soak']))
  for check in report['checks']:
    line = f'  {"PASS" if check["passed"] else "FAIL"}  {check["name"]} ({check["kind"]}'
    if check['kind'] == 'tolerance':
      line += (f', rtol {check["rtol"]:g}, atol {check["atol"]:g}): max abs difference '
               f'{check["max_abs_difference"]:.3g}')
    else:
      line += ')'
    if check['first_difference']:
      line += f'; first difference: {check["first_difference"]}'
    lines.append(line)
  lines.append(f'bitwise reproducible: {"yes" if report["passed"] else "NO"}')
  return '\n'.join(lines)


def _describe_soak(soaked: dict) -> str:
  """One line: how often s was killed, over what time, in how many launches, how long it took."""
  kills = soaked['kills']
  writing = sum(kill['writing_checkpoint'] for kill in kills)
  past = sum((kill['logged_step'] or 0) > (kill['saved_step'] or 0) for kill in kills)
  moments = ', '.join(f'{kill["at_s"]:.1f}' for kill in kills)
  return (f'  soak: s/ SIGKILLed {len(kills)} of {soaked["planned_kills"]} planned times (at '
          f'{moments} s; {writing} while a checkpoint was being written, {past} with steps '
          f'logged past the last checkpoint), {soaked["launches"]} launches, '
          f'{soaked["wall_s"]:g} s')
