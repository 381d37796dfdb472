"""Weighted k-nearest-neighbour classification of embeddings.

The classifier of Wu et al. 2018, "Unsupervised Feature Learning via
Non-Parametric Instance Discrimination" (CVPR, Sec. 3.4), as used by DINO's
``eval_knn.py`` (facebookresearch/dino, ``knn_classifier``) and by most
self-supervised papers since: cosine similarity to a labelled memory bank,
the ``k`` most similar bank entries vote for their class with weight
``exp(similarity / T)``, and the class with the largest summed vote wins.
Defaults ``k=20``, ``T=0.07`` are theirs.

Pure tensor code (no runner, no dataset), shared by the online evaluation
hook (:class:`mixssl_mm.engine.hooks.KNNEvalHook`) and by offline tools.
"""
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ['knn_class_scores', 'knn_predict', 'knn_top1']


def _check_inputs(bank_features: torch.Tensor, bank_labels: torch.Tensor,
                  query_features: torch.Tensor, k: int,
                  temperature: float) -> None:
    if bank_features.ndim != 2 or query_features.ndim != 2:
        raise ValueError(
            'k-NN expects 2-D features (num_samples, dim); got bank '
            f'{tuple(bank_features.shape)} and queries '
            f'{tuple(query_features.shape)}.')
    if bank_features.size(1) != query_features.size(1):
        raise ValueError(
            f'k-NN: bank features have dimension {bank_features.size(1)} but '
            f'queries have {query_features.size(1)}; both must come from the '
            'same encoder.')
    if bank_labels.ndim != 1 or bank_labels.numel() != bank_features.size(0):
        raise ValueError(
            f'k-NN: bank_labels must be 1-D with one label per bank entry '
            f'({bank_features.size(0)}), got shape '
            f'{tuple(bank_labels.shape)}.')
    if bank_labels.dtype.is_floating_point or bank_labels.dtype == torch.bool:
        raise TypeError('k-NN: bank_labels must be integer class indices, '
                        f'got dtype {bank_labels.dtype}.')
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f'k-NN: k must be a positive integer, got {k!r}.')
    if k > bank_features.size(0):
        raise ValueError(
            f'k-NN: k={k} neighbours requested but the memory bank holds '
            f'only {bank_features.size(0)} samples; lower k or use a larger '
            'labelled bank.')
    if not temperature > 0:
        raise ValueError(
            f'k-NN: temperature must be > 0, got {temperature!r}.')


@torch.no_grad()
def knn_class_scores(bank_features: torch.Tensor,
                     bank_labels: torch.Tensor,
                     query_features: torch.Tensor,
                     k: int = 20,
                     temperature: float = 0.07,
                     num_classes: Optional[int] = None,
                     chunk_size: int = 1024) -> torch.Tensor:
    r"""Summed neighbour votes per class for every query.

    For query :math:`q` with neighbours :math:`N_k(q)` (the ``k`` bank
    entries of largest cosine similarity :math:`s_i`),

    .. math:: \text{score}_c(q) = \sum_{i \in N_k(q),\ y_i = c}
              \exp(s_i / T).

    Features are L2-normalised here (a no-op for already normalised ones),
    so similarities are cosines in [-1, 1]. Computed in float32 on the
    device of ``bank_features``, ``chunk_size`` queries at a time so memory
    stays ``O(chunk_size * num_bank)``.

    Args:
        bank_features (torch.Tensor): Memory bank ``(N, D)``.
        bank_labels (torch.Tensor): Integer labels ``(N, )`` in
            ``[0, num_classes)``.
        query_features (torch.Tensor): Queries ``(M, D)``.
        k (int): Number of neighbours, ``1 <= k <= N``. Defaults to 20.
        temperature (float): ``T`` of the vote weights, > 0.
            Defaults to 0.07.
        num_classes (int, optional): Number of classes ``C``. Defaults to
            ``max(bank_labels) + 1``.
        chunk_size (int): Queries per similarity block. Defaults to 1024.

    Returns:
        torch.Tensor: Vote scores ``(M, C)``, float32, on the bank's device.

    Raises:
        ValueError: Shapes that do not match, ``k`` outside ``[1, N]``,
            ``temperature <= 0``, or a label outside ``[0, num_classes)``.
        TypeError: Non-integer labels.
    """
    _check_inputs(bank_features, bank_labels, query_features, k, temperature)
    device = bank_features.device
    bank = F.normalize(bank_features.float(), dim=1)
    labels = bank_labels.to(device=device, dtype=torch.int64)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.numel() else 0
    if labels.numel() and (int(labels.min()) < 0
                           or int(labels.max()) >= num_classes):
        raise ValueError(
            f'k-NN: bank labels span [{int(labels.min())}, '
            f'{int(labels.max())}] but num_classes is {num_classes}.')

    scores = []
    for start in range(0, query_features.size(0), chunk_size):
        queries = F.normalize(
            query_features[start:start + chunk_size].to(device).float(), dim=1)
        sim, idx = (queries @ bank.t()).topk(k, dim=1)  # (m, k) each
        votes = torch.zeros(
            queries.size(0), num_classes, device=device, dtype=torch.float32)
        # exp(s / T) <= exp(1 / 0.07) ~ 1.6e6 for cosines: no overflow
        votes.scatter_add_(1, labels[idx], (sim / temperature).exp())
        scores.append(votes)
    if not scores:
        return torch.zeros(0, num_classes, device=device)
    return torch.cat(scores)


def knn_predict(bank_features: torch.Tensor, bank_labels: torch.Tensor,
                query_features: torch.Tensor, **kwargs) -> torch.Tensor:
    """Predicted class ``(M, )`` (int64) of every query: the arg-max of
    :func:`knn_class_scores` (ties go to the lower class index).

    ``kwargs`` (``k``, ``temperature``, ``num_classes``, ``chunk_size``)
    and errors as in :func:`knn_class_scores`.
    """
    return knn_class_scores(bank_features, bank_labels, query_features,
                            **kwargs).argmax(1)


def knn_top1(bank_features: torch.Tensor, bank_labels: torch.Tensor,
             query_features: torch.Tensor, query_labels: torch.Tensor,
             **kwargs) -> float:
    """Weighted k-NN top-1 accuracy of the queries, in percent.

    Args:
        bank_features, bank_labels, query_features: As in
            :func:`knn_class_scores`.
        query_labels (torch.Tensor): True labels ``(M, )`` of the queries.
        **kwargs: ``k`` (default 20), ``temperature`` (0.07),
            ``num_classes``, ``chunk_size``, as in :func:`knn_class_scores`.

    Returns:
        float: ``100 * mean(prediction == query_label)``.

    Raises:
        ValueError: No queries, or ``query_labels`` not ``(M, )``; and the
            errors of :func:`knn_class_scores`.
    """
    if query_labels.ndim != 1 or query_labels.numel() != query_features.size(
            0):
        raise ValueError(
            'k-NN: query_labels must be 1-D with one label per query '
            f'({query_features.size(0)}), got shape '
            f'{tuple(query_labels.shape)}.')
    if query_labels.numel() == 0:
        raise ValueError('k-NN: no queries to classify.')
    pred = knn_predict(bank_features, bank_labels, query_features, **kwargs)
    correct = pred.cpu() == query_labels.cpu().to(torch.int64)
    return 100.0 * correct.double().mean().item()
