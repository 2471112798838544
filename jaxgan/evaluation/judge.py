"""The judge: evaluation networks that score telescope images and give their features.

The judge is label predictors of the run's `config.predictor` config (its network replaced by
`eval.judge_network`'s when set: `configs.predictor_network`) trained on the training split with
seed `config.predictor.seed + 1`, so it is independent of any predictor the GAN trained against
(`predictor_training` trains and saves it). `eval.judges` says how many:
- 'one': one network with a head per label, in <workdir>/eval/judge;
- 'three': the source's (sgh14/CTGANs `callback.py:52-54`, `evaluate.py:57-88`), a particle
  classifier, an energy regressor and a direction regressor, each a network of one head, in
  <workdir>/eval/judge/<label>, seeds + 0, 1, 2.
Either way they report the same scores (`judge_scores`). The features are the pre-activation
outputs of the `particletype_hidden` layer (`FEATURE_LAYER`, the first of the particle type's
head, in the network that predicts it: the head applies a ReLU after it; before it no unit is
dead, which keeps the covariances of the Frechet distance full rank). The judge is cached by path
only: delete eval/judge/ to retrain it (e.g. with other `judge_steps`).
"""

import functools
import os
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from jaxgan import assembly
from jaxgan import configs
from jaxgan import labels as labels_lib
from jaxgan import predictor_training
from jaxgan.data import pipeline
from jaxgan.data.split import Split
from jaxgan.models import predictor as predictor_lib

PyTree = Any
Labels = dict[str, np.ndarray]

EVAL_DIR = 'eval'  # the evaluation's folder, under the run's workdir
JUDGE_DIR = 'judge'  # under EVAL_DIR
FEATURE_LAYER = 'particletype_hidden'  # the judge layer whose output gives the features
FEATURE_LABEL = 'particletype'  # the label whose head has FEATURE_LAYER
JUDGES = ('one', 'three')  # `eval.judges`


class Network(NamedTuple):
  """One evaluation network: a label predictor and its variables."""
  module: nn.Module
  variables: PyTree


class Judge(NamedTuple):
  """The evaluation networks (one for every label, or one per label), and what feeds them."""
  networks: tuple[Network, ...]
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
  """The run's predictor config with the network of `eval.judge_network` (when set) and seed + 1,
  saved in <workdir>/eval/judge, `num_steps` steps (None: `config.predictor.num_steps`)."""
  judge = ml_collections.ConfigDict(config.predictor.to_dict())
  if config.eval.judge_network:
    judge.update(configs.predictor_network(config.eval.judge_network))
  judge.seed = config.predictor.seed + 1
  judge.checkpoint = os.path.abspath(os.path.join(workdir, EVAL_DIR, JUDGE_DIR))
  judge.num_steps = config.predictor.num_steps if num_steps is None else num_steps
  return judge


def judge_members(config: ml_collections.ConfigDict, workdir: str, num_steps: int | None = None
                  ) -> list[tuple[labels_lib.LabelSpec, ml_collections.ConfigDict]]:
  """The labels and the predictor config of each network of the judge (`eval.judges`)."""
  if config.eval.judges not in JUDGES:
    raise ValueError(f'eval.judges={config.eval.judges!r} is unknown; choose one of {JUDGES}')
  judge = judge_config(config, workdir, num_steps)
  if config.eval.judges == 'one':
    return [(labels_lib.TELESCOPE, judge)]
  members = []
  for index, label in enumerate(labels_lib.TELESCOPE):
    member = ml_collections.ConfigDict(judge.to_dict())
    member.update(seed=judge.seed + index, checkpoint=os.path.join(judge.checkpoint, label.name))
    members.append(((label,), member))
  return members


def load_judge(config: ml_collections.ConfigDict, workdir: str, data: assembly.RunData,
               num_steps: int | None = None) -> Judge:
  """The judge saved in <workdir>/eval/judge, or one trained on `data.train` and saved there."""
  networks = []
  for label_spec, member in judge_members(config, workdir, num_steps):
    variables = predictor_training.train_or_load_predictor(
        member, data.train, data.validation, data.normalisation.forward, workdir, label_spec)
    networks.append(Network(predictor_lib.predictor_from_config(member, label_spec=label_spec),
                            variables))
  return Judge(tuple(networks), data.normalisation, config.predictor.batch_size)


@functools.partial(jax.jit, static_argnums=0)
def _features(module: nn.Module, variables: PyTree, images: jax.Array) -> jax.Array:
  """(B, F) outputs of the judge's FEATURE_LAYER (before its ReLU) for network-unit images."""
  _, state = module.apply(variables, images, train=False, mutable=['intermediates'],
                          capture_intermediates=lambda layer, _: layer.name == FEATURE_LAYER)
  return state['intermediates'][FEATURE_LAYER]['__call__'][0]


def judge_features(judge: Judge, images: np.ndarray) -> np.ndarray:
  """(N, F) judge features of (N, H, W, C) images in photoelectrons."""
  network = next(network for network in judge.networks
                 if any(label.name == FEATURE_LABEL for label in network.module.label_spec))
  return batched(lambda batch: _features(network.module, network.variables,
                                          judge.normalisation.forward(batch)),
                  judge.batch_size, images)


def judge_scores(judge: Judge, images: np.ndarray, labels: Labels, side: str) -> dict[str, float]:
  """The judge's accuracy and MAEs on images (photoelectrons) of `labels`, named for `side`;
  each from the network that predicts its label."""
  scores = {}
  for network in judge.networks:
    scores.update(predictor_training.evaluate_predictor(
        network.module, network.variables, Split(images, labels), judge.normalisation.forward,
        judge.batch_size))
  return {'judge_accuracy_' + side: scores['particletype_accuracy'],
          'judge_energy_mae_' + side: scores['energy_mae'],
          'judge_direction_mae_' + side: scores['direction_mae']}
