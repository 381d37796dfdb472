# Copyright (c) mixssl_mm contributors. All rights reserved.
"""The label-fraction stages of a :class:`~.planning.Plan`: which protocols
``--label-fractions`` adds, the subset each (fraction, seed) trains on, its
config and how its cfg-options differ from the full fine-tune's (see
:mod:`.label_fractions` for the rules)."""
import copy
import os.path as osp
import tempfile
from typing import Dict, List, Sequence, Tuple

from .label_fractions import (LabelSubset, check_fractions, dataset_labels,
                              draw_subset, equal_step_epochs, pool_positions)
from .protocols import FRACTION_BASE, fraction_protocol, split_protocol
from .recipe import steps_per_epoch, warmup_options
from .stage_configs import parse_cfg_options

INDICES = 'train_dataloader.dataset.indices'


def expand_protocols(protocols: Sequence[str],
                     fractions: Sequence[float]) -> List[str]:
    """``protocols`` with the fine-tune replaced by one protocol per label
    fraction (``[0.01, 1.0]`` -> ``finetune_1pct``, ``finetune``)."""
    out = []
    for p in protocols:
        if p == FRACTION_BASE:
            out += [fraction_protocol(f) for f in fractions]
        else:
            out.append(p)
    return out


class FractionStages:
    """Label subsets and stage settings of the fraction protocols of
    ``plan`` (its configs, preset, arguments and downstream options).

    Args:
        plan: the :class:`~.planning.Plan`.
        fractions: the label fractions (checked by
            :func:`~.label_fractions.check_fractions`).
    """

    def __init__(self, plan, fractions: Sequence[float]):
        self.plan = plan
        self.fractions = check_fractions(fractions)
        self._pool = None
        self._subsets: Dict[Tuple[float, int], LabelSubset] = {}

    def pool(self):
        """``(labels, classes, pool positions)`` of the full fine-tune's
        train dataset as its stage builds it (config, cfg-options and the
        user's ``--downstream-cfg-options``)."""
        if self._pool is None:
            plan = self.plan
            cfg = copy.deepcopy(
                plan.configs.config(plan.protocol_config(FRACTION_BASE)))
            cfg.merge_from_dict(
                plan.downstream_train_options(FRACTION_BASE, 0, None),
                allow_list_keys=True)
            cfg.merge_from_dict(
                parse_cfg_options(plan.args.downstream_cfg_options),
                allow_list_keys=True)
            dataset = cfg.train_dataloader.dataset.to_dict()
            labels, classes = self._labels(dataset)
            self._pool = (labels, classes,
                          pool_positions(len(labels), dataset.get('indices')))
        return self._pool

    def _labels(self, dataset: dict):
        """:func:`dataset_labels`; an image list the plan generates but has
        not written yet (a dry run, or before the run starts) is read from
        memory through a temporary copy."""
        generated = self.plan.configs.files.files
        ann = dataset.get('ann_file')
        if ann not in generated or osp.isfile(ann):
            return dataset_labels(dataset)
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, osp.basename(ann))
            with open(path, 'w') as f:
                f.write(generated[ann])
            return dataset_labels(dict(dataset, ann_file=path))

    def subset(self, protocol: str, seed: int) -> LabelSubset:
        """The subset a fraction protocol trains on with ``seed``."""
        fraction = split_protocol(protocol)[1]
        if (fraction, seed) not in self._subsets:
            labels, classes, pool = self.pool()
            self._subsets[fraction,
                          seed] = draw_subset(labels, classes, fraction, seed,
                                              pool)
        return self._subsets[fraction, seed]

    def subsets(self) -> List[LabelSubset]:
        """Every (fraction < 1, seed) subset of the plan."""
        return [
            self.subset(fraction_protocol(f), s) for f in self.fractions
            if f < 1.0 for s in self.plan.seeds
        ]

    def config(self, protocol: str, seed: int, encoder=None) -> str:
        """The generated fine-tune config that trains on the subset (with
        ``encoder``, see :meth:`.stage_configs.StageConfigs.protocol`)."""
        return self.plan.configs.label_subset(
            protocol, seed,
            self.subset(protocol, seed).indices, encoder)

    def adjust_options(self, options: dict, protocol: str, seed: int,
                       epochs: int) -> None:
        """Make the full fine-tune's cfg-options ``options`` those of the
        fraction stage: no ``indices`` (the config's list is the subset),
        the full fine-tune's optimizer steps (``epochs`` epochs on the
        pool), its checkpoints as often in steps and the warm-up of the
        ``fair`` recipe over the same share of those steps."""
        options.pop(INDICES, None)
        pool = len(self.pool()[2])
        n = len(self.subset(protocol, seed).indices)
        batch = self.plan.preset['batch_size']
        scaled = equal_step_epochs(epochs, pool, n, batch)
        options['train_cfg.max_epochs'] = scaled
        options['default_hooks.checkpoint.interval'] = max(1, scaled // epochs)
        # the warm-up: the same share of this stage's steps
        options.update(
            warmup_options(self.plan.recipe, scaled,
                           steps_per_epoch(n, batch, False)))

    @staticmethod
    def extra(options: Sequence[str]) -> List[str]:
        """The user's ``--downstream-cfg-options`` for a fraction stage:
        an ``indices`` there sets the pool, not the stage's images."""
        return [o for o in options if not o.startswith(INDICES + '=')]
