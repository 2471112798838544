"""The judge: evaluation networks that score telescope images and give their features.

The judge is a label predictor of the run's `config.predictor` architecture trained on the
training split with seed `config.predictor.seed + 1`, so it is independent of any predictor the
GAN trained against (`predictor_training` trains and saves it, in <workdir>/eval/judge). Its
features are the pre-activation outputs of its `particletype_hidden` layer (`FEATURE_LAYER`: the
head applies a ReLU after it; before it no unit is dead, which keeps the covariances of the
Frechet distance full rank). The judge is cached by path only: delete eval/judge/ to retrain it
(e.g. with other `judge_steps`).
"""

import functools
import os
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from jaxgan import assembly
from jaxgan import predictor_training
from jaxgan.data import pipeline
from jaxgan.data.split import Split
from jaxgan.models import predictor as predictor_lib

PyTree = Any
Labels = dict[str, np.ndarray]

EVAL_DIR = 'eval'  # the evaluation's folder, under the run's workdir
JUDGE_DIR = 'judge'  # under EVAL_DIR
FEATURE_LAYER = 'particletype_hidden'  # the judge layer whose output gives the features


class Judge(NamedTuple):
  """The evaluation networks: a label predictor, its variables, and what feeds it."""
  module: nn.Module
  variables: PyTree
  normalisation: pipeline.Normalisation
  batch_size: int


def batched(function: Callable[..., Any], batch_size: int, *arrays: np.ndarray) -> Any:
  """`function` on consecutive batches of `arrays`, its outputs concatenated.

  Args:
    function: takes one batch of each array (the same rows of each).
    batch_size: rows per batch (the last batch may be smaller).
    arrays: arrays of as many rows.

  Returns:
    The outputs (any pytree) concatenated along their first axis, as numpy arrays.
  """
  outputs = [function(*(array[start:start + batch_size] for array in arrays))
             for start in range(0, len(arrays[0]), batch_size)]
  return jax.tree.map(lambda *parts: np.concatenate([np.asarray(p) for p in parts]), *outputs)


def judge_config(config: ml_collections.ConfigDict, workdir: str,
                 num_steps: int | None = None) -> ml_collections.ConfigDict:
  """The run's predictor config with seed + 1, saved in <workdir>/eval/judge, `num_steps` steps
  (None: `config.predictor.num_steps`)."""
  judge = ml_collections.ConfigDict(config.predictor.to_dict())
  judge.seed = config.predictor.seed + 1
  judge.checkpoint = os.path.abspath(os.path.join(workdir, EVAL_DIR, JUDGE_DIR))
  judge.num_steps = config.predictor.num_steps if num_steps is None else num_steps
  return judge


def load_judge(config: ml_collections.ConfigDict, workdir: str, data: assembly.RunData,
               num_steps: int | None = None) -> Judge:
  """The judge saved in <workdir>/eval/judge, or one trained on `data.train` and saved there."""
  judge = judge_config(config, workdir, num_steps)
  variables = predictor_training.train_or_load_predictor(
      judge, data.train, data.validation, data.normalisation.forward, workdir)
  return Judge(predictor_lib.predictor_from_config(judge), variables, data.normalisation,
               judge.batch_size)


@functools.partial(jax.jit, static_argnums=0)
def _features(module: nn.Module, variables: PyTree, images: jax.Array) -> jax.Array:
  """(B, F) outputs of the judge's FEATURE_LAYER (before its ReLU) for network-unit images."""
  _, state = module.apply(variables, images, train=False, mutable=['intermediates'],
                          capture_intermediates=lambda layer, _: layer.name == FEATURE_LAYER)
  return state['intermediates'][FEATURE_LAYER]['__call__'][0]


def judge_features(judge: Judge, images: np.ndarray) -> np.ndarray:
  """(N, F) judge features of (N, H, W, C) images in photoelectrons."""
  return batched(lambda batch: _features(judge.module, judge.variables,
                                          judge.normalisation.forward(batch)),
                  judge.batch_size, images)


def judge_scores(judge: Judge, images: np.ndarray, labels: Labels, side: str) -> dict[str, float]:
  """The judge's accuracy and MAEs on images (photoelectrons) of `labels`, named for `side`."""
  scores = predictor_training.evaluate_predictor(
      judge.module, judge.variables, Split(images, labels), judge.normalisation.forward,
      judge.batch_size)
  return {'judge_accuracy_' + side: scores['particletype_accuracy'],
          'judge_energy_mae_' + side: scores['energy_mae'],
          'judge_direction_mae_' + side: scores['direction_mae']}
