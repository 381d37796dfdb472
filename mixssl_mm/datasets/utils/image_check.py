# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Find image files that cannot be decoded, before training starts; the one
home of the skip-corrupt handling that ``CrossDomainMixup(skip_corrupt=...)``
(auxiliary images) and the training pre-flight (``data_check.skip_corrupt``,
target images) share.

The check opens each file's header with Pillow (no full decode), in a few
threads, so it costs about a file-system ``stat`` + one small read per file.
It catches empty files, files that are not images at all and files whose
header is damaged. A file whose *body* is truncated can pass it; such a file
is still caught while training (see ``CrossDomainMixup(skip_corrupt=...)``
and :func:`load_error`).
"""
from concurrent.futures import ThreadPoolExecutor
from typing import (Callable, Iterable, List, NamedTuple, Optional, Sequence,
                    Tuple, Type)

__all__ = [
    'image_error', 'load_error', 'unreadable_images', 'dataset_image_paths',
    'format_bad_images', 'UnreadableMessages', 'readable_indices'
]


def image_error(path: str) -> Optional[str]:
    """Why ``path`` cannot be read as an image, or None if it can."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            img.verify()
        return None
    except FileNotFoundError:
        return 'file not found'
    except PermissionError:
        return 'permission denied'
    except UnidentifiedImageError:
        return 'not a readable image (empty or corrupt file)'
    except Exception as e:  # damaged header, truncated PNG chunk, ...
        return f'{type(e).__name__}: {e}'


def load_error(path: str) -> Optional[str]:
    """Why loading ``path`` failed, after a pipeline raised on it: the
    header check of :func:`image_error`, then a full OpenCV decode (which
    catches a truncated body). None: the file is fine, so the failure was a
    pipeline or config error, not a broken file."""
    reason = image_error(path)
    if reason is None:
        import cv2
        if cv2.imread(path, cv2.IMREAD_UNCHANGED) is None:
            reason = 'cannot be decoded'
    return reason


def unreadable_images(paths: Iterable[str],
                      num_threads: int = 8) -> List[Tuple[str, str]]:
    """``[(path, reason), ...]`` of the paths that are not readable images,
    in input order."""
    paths = list(paths)
    if not paths:
        return []
    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        reasons = list(pool.map(image_error, paths, chunksize=64))
    return [(p, r) for p, r in zip(paths, reasons) if r is not None]


def dataset_image_paths(dataset) -> List[Tuple[int, str]]:
    """``[(index, img_path), ...]`` of a built mmengine dataset whose samples
    are local image files (e.g. ``CustomDataset``); empty for in-memory
    datasets such as ``MedMNIST`` or ``NaturalPhotoPool`` and for remote
    storage."""
    out = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        path = info.get('img_path') if isinstance(info, dict) else None
        if isinstance(path, str) and '://' in path:
            return []  # remote storage (s3://, http://): not checked here
        if path is None:
            if i == 0:
                return []  # not a file-backed dataset
            continue
        out.append((i, path))
    return out


def format_bad_images(bad: Sequence[Tuple[str, str]], limit: int = 5) -> str:
    lines = [f'  {p}: {r}' for p, r in bad[:limit]]
    if len(bad) > limit:
        lines.append(f'  ... and {len(bad) - limit} more')
    return '\n'.join(lines)


class UnreadableMessages(NamedTuple):
    """What :func:`readable_indices` says, as ``str.format`` templates with
    the fields ``{n}`` (number of unreadable files) and ``{files}`` (their
    list, :func:`format_bad_images`)."""
    refused: str  # some files are unreadable and skip_corrupt is off
    none_readable: str  # skip_corrupt is on but no file is readable
    skipped: str  # skip_corrupt is on: reported, then training goes on


def readable_indices(
        dataset,
        skip_corrupt: bool,
        messages: UnreadableMessages,
        error: Type[Exception] = ValueError,
        report: Callable[[str], object] = print) -> Optional[List[int]]:
    """Header-check every image file of a built dataset.

    Args:
        dataset: A built mmengine dataset (file-backed or not).
        skip_corrupt: Leave unreadable files out instead of refusing them.
        messages: The caller's wording (see :class:`UnreadableMessages`).
        error: The exception class raised.
        report: Called with ``messages.skipped`` when files are left out
            (e.g. ``warnings.warn`` or a logger).

    Returns:
        None when every file is readable (or the dataset holds no local
        files), else the indices of the readable samples.

    Raises:
        error: unreadable files without ``skip_corrupt``, or none readable.
    """
    indexed = dataset_image_paths(dataset)
    bad = unreadable_images([p for _, p in indexed])
    if not bad:
        return None
    fields = dict(n=len(bad), files=format_bad_images(bad))
    if not skip_corrupt:
        raise error(messages.refused.format(**fields))
    bad_paths = {p for p, _ in bad}
    keep = [i for i, p in indexed if p not in bad_paths]
    if not keep:
        raise error(messages.none_readable.format(**fields))
    report(messages.skipped.format(**fields))
    return keep
