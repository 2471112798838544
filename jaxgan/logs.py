"""What a run writes for people: metrics (JSON lines + TensorBoard), a progress line, image grids.

- `<workdir>/metrics.jsonl`: one JSON object per logged step, `{"step": s, "name": value, ...}`.
- `<workdir>/tensorboard/`: the same scalars and the sample grids as TensorBoard events.
- `<workdir>/samples/step_XXXXXXX.png`: sample grids (see `image_grid`); `save_animation` makes
  them into an animated GIF of the fixed-noise samples over training.

A launch that resumes from the checkpoint of step S drops what earlier launches logged past S
(a run stopped between checkpoints logged steps that the resumed one logs again), so that each
step keeps one row: from metrics.jsonl at once (`drop_rows_after`, atomically: a kill during it
leaves the old file or the new one, never a part), and from TensorBoard when it reads the events
(the new events file starts with a purge at S + 1, tensorboardX's `purge_step`). TensorBoard's
events reach the disk in batches (tensorboardX flushes every 2 minutes), so a SIGKILL can lose
the newest ones; metrics.jsonl is appended row by row and is the record.
"""

import json
import logging as python_logging
import math
import os
import re
import time

import matplotlib
import numpy as np
import tensorboardX
from absl import logging
from PIL import Image


class MetricWriter:
  """Appends scalar metrics to `metrics.jsonl` and TensorBoard, and images to TensorBoard.

  `first_step` is the step the run starts from (its restored checkpoint's, 0 for a new run):
  rows and events that earlier launches logged past it are dropped (module docstring).
  """

  def __init__(self, workdir: str, first_step: int):
    self._jsonl_path = os.path.join(workdir, 'metrics.jsonl')
    drop_rows_after(self._jsonl_path, first_step)
    self._tensorboard = tensorboardX.SummaryWriter(os.path.join(workdir, 'tensorboard'),
                                                   purge_step=first_step + 1)

  def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
    with open(self._jsonl_path, 'a') as f:
      f.write(json.dumps({'step': step, **scalars}) + '\n')
    for name, value in scalars.items():
      self._tensorboard.add_scalar(name, value, step)

  def write_image(self, step: int, name: str, rgb: np.ndarray) -> None:
    """`rgb`: (H, W, 3) uint8."""
    self._tensorboard.add_image(name, rgb, step, dataformats='HWC')

  def close(self) -> None:
    self._tensorboard.close()


def drop_rows_after(path: str, step: int) -> int:
  """Removes from the metrics file at `path` its rows past `step`, and a last line cut short (a
  write interrupted by a kill); returns how many lines it removed.

  The file is rewritten under a temporary name, synced, then renamed over the old one, so that a
  kill at any moment leaves one of the two whole. A missing file is left missing.
  """
  if not os.path.exists(path):
    return 0
  complete, cut_short = _lines(path)
  kept = [line for line in complete if line.strip() and json.loads(line)['step'] <= step]
  removed = len(complete) - len(kept) + bool(cut_short)
  if removed:
    with open(f'{path}.tmp', 'w') as f:
      f.writelines(line + '\n' for line in kept)
      f.flush()
      os.fsync(f.fileno())
    os.replace(f'{path}.tmp', path)
    logging.info('Dropped %d line(s) past step %d from %s: logged by a launch that stopped '
                 'before its next checkpoint', removed, step, path)
  return removed


def _lines(path: str) -> tuple[list[str], str]:
  """The complete lines of a text file, and what follows its last newline: '' when the file ends
  with one, else a line cut short (being written, or its write interrupted)."""
  with open(path) as f:
    *complete, rest = f.read().split('\n')
  return complete, rest


def read_metrics(workdir: str) -> list[dict]:
  """The rows of `<workdir>/metrics.jsonl` (empty if the run has logged nothing; a last line cut
  short is left out)."""
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return []
  return [json.loads(line) for line in _lines(path)[0] if line.strip()]


def format_duration(seconds: float) -> str:
  """Like '1h02m', '3m05s' or '42s'."""
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  if hours:
    return f'{hours}h{minutes:02d}m'
  return f'{minutes}m{seconds:02d}s' if minutes else f'{seconds}s'


TRAIN_SECONDS = 'train_seconds'  # logged with each evaluation during training (`TrainingClock`)


class TrainingClock:
  """Wall seconds a run has trained, the evaluations during training left out: the compute a
  metric logged with it cost. A resumed launch counts on from the last `TRAIN_SECONDS` logged at
  or before its first step (what the stopped launch spent past that row is not counted).
  """

  def __init__(self, workdir: str, first_step: int):
    logged = [row[TRAIN_SECONDS] for row in read_metrics(workdir)
              if TRAIN_SECONDS in row and row['step'] <= first_step]
    self._offset = logged[-1] if logged else 0.0
    self._start, self._excluded = time.perf_counter(), 0.0

  def seconds(self) -> float:
    return self._offset + time.perf_counter() - self._start - self._excluded

  def exclude(self, seconds: float) -> None:
    """Leaves `seconds` (e.g. an evaluation's) out of the count."""
    self._excluded += seconds


class Progress:
  """A progress line: step, steps/s (since the previous report, compile time excluded), ETA."""

  def __init__(self, first_step: int, total_steps: int):
    self._total = total_steps
    self._last_step, self._last_time = first_step, None

  def report(self, step: int, scalars: dict[str, float]) -> str:
    now = time.perf_counter()
    if self._last_time is None:
      rate_text, eta_text = 'compiling', '?'
    else:
      rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
      rate_text = f'{rate:.2f} steps/s'
      eta_text = format_duration((self._total - step) / max(rate, 1e-9))
    self._last_step, self._last_time = step, now
    values = ' '.join(f'{k}={v:.4g}' for k, v in sorted(scalars.items()))
    line = f'step {step}/{self._total} | {rate_text} | ETA {eta_text} | {values}'
    logging.info(line)
    return line


MARKER_RGB = (0, 255, 255)  # cyan: apart from every colour of the 'inferno' map


def image_grid(images: np.ndarray, columns: int, colormap: str = 'inferno',
               softening: float = 1.0, vmax: float | None = None,
               cell_pixels: int = 3, markers: np.ndarray | None = None) -> np.ndarray:
  """Tiles single-channel images into one RGB picture with a shared brightness scale.

  Brightness is asinh-compressed, asinh(x / softening), and scaled so that `vmax` (default: the
  brightest pixel of the grid) is full brightness; brighter images look brighter, and grids drawn
  with the same `vmax` compare directly.

  Args:
    images: (N, H, W, 1) array, N a multiple of `columns`.
    columns: images per row.
    colormap: a matplotlib colormap name.
    softening: the asinh scale, in the images' units.
    vmax: the value shown at full brightness (brighter pixels are clipped).
    cell_pixels: each image pixel becomes a cell_pixels x cell_pixels square.
    markers: (N, 2) (row, column) image-pixel positions, one per image (e.g. the labelled
      source of a telescope image), each drawn as a `MARKER_RGB` cross whose four arms leave
      the marked pixel itself visible; positions off the image are not drawn.

  Returns:
    (rows * (H + 1) - 1) * cell_pixels x ... RGB uint8 picture, 1-pixel dark separators.
  """
  count, height, width, _ = images.shape
  rows = math.ceil(count / columns)
  vmax = float(images.max()) if vmax is None else vmax
  compressed = np.arcsinh(np.maximum(images[..., 0], 0.0) / softening)
  compressed = np.minimum(compressed / max(np.arcsinh(vmax / softening), 1e-12), 1.0)
  canvas = np.zeros((rows * (height + 1) - 1, columns * (width + 1) - 1))
  for index in range(count):
    row, column = divmod(index, columns)
    canvas[row * (height + 1):row * (height + 1) + height,
           column * (width + 1):column * (width + 1) + width] = compressed[index]
  rgb = matplotlib.colormaps[colormap](canvas)[..., :3]
  rgb = (np.kron(rgb, np.ones((cell_pixels, cell_pixels, 1))) * 255).round().astype(np.uint8)
  for index, (row, column) in enumerate([] if markers is None else np.round(markers).astype(int)):
    if 0 <= row < height and 0 <= column < width:
      grid_row, grid_column = divmod(index, columns)
      centre_row = (grid_row * (height + 1) + row) * cell_pixels + cell_pixels // 2
      centre_column = (grid_column * (width + 1) + column) * cell_pixels + cell_pixels // 2
      _draw_cross(rgb, centre_row, centre_column, cell_pixels)
  return rgb


def _draw_cross(rgb: np.ndarray, row: int, column: int, cell_pixels: int) -> None:
  """Four `MARKER_RGB` arms, each `cell_pixels` long, from one cell off (row, column)."""
  for step in range(cell_pixels, 2 * cell_pixels):
    for r, c in ((row - step, column), (row + step, column), (row, column - step),
                 (row, column + step)):
      if 0 <= r < rgb.shape[0] and 0 <= c < rgb.shape[1]:
        rgb[r, c] = MARKER_RGB


def save_png(path: str, rgb: np.ndarray) -> None:
  """Writes an (H, W, 3) uint8 picture, creating the folder."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(rgb).save(path)


FRAME_NAME = re.compile(r'step_(\d+)\.png')


def _frame_names(sample_dir: str) -> list[str]:
  """The `step_<step>.png` names in `sample_dir` (none if it is missing), in step order."""
  names = os.listdir(sample_dir) if os.path.isdir(sample_dir) else []
  steps = sorted((int(match[1]), name) for name in names if (match := FRAME_NAME.fullmatch(name)))
  return [name for _, name in steps]


def save_animation(sample_dir: str, output_path: str, frame_ms: int = 200) -> int:
  """Writes the `step_<step>.png` pictures of `sample_dir`, in step order, as an animated GIF.

  Other files (`reference.png`, ...) are left out. The GIF is written under a temporary name and
  then renamed, so `output_path` is never a partial file. Without frames, warns and writes nothing.

  Args:
    sample_dir: the folder of frames, e.g. `<workdir>/samples`.
    output_path: the GIF to write.
    frame_ms: how long each frame is shown, in milliseconds; the animation loops.

  Returns:
    The number of pictures animated (Pillow shows consecutive identical ones as one longer frame).
  """
  names = _frame_names(sample_dir)
  if not names:
    logging.warning('No step_*.png frames in %s: no animation written', sample_dir)
    return 0
  frames = []
  for name in names:
    with Image.open(os.path.join(sample_dir, name)) as frame:
      frames.append(frame.convert('RGB'))
  os.makedirs(os.path.dirname(output_path) or '.', exist_ok=True)
  temporary = f'{output_path}.tmp'
  frames[0].save(temporary, format='GIF', save_all=True, append_images=frames[1:],
                 duration=frame_ms, loop=0)
  os.replace(temporary, output_path)
  return len(frames)


class QuietLibraries(python_logging.Filter):
  """Drops the INFO chatter of Orbax and JAX internals; their warnings and errors pass, without
  the tracebacks (a failed background save logs the same one from several threads: the command
  ends with its own one-line message). The commands add it to absl's handler."""

  def filter(self, record: python_logging.LogRecord) -> bool:
    if not ('/orbax/' in record.pathname or '/jax/_src/' in record.pathname):
      return True
    record.exc_info = record.exc_text = None
    return record.levelno >= python_logging.WARNING
