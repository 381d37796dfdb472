# Copyright (c) mixssl_mm contributors. All rights reserved.
"""Find image files that cannot be decoded, before training starts.

The check opens each file's header with Pillow (no full decode), in a few
threads, so it costs about a file-system ``stat`` + one small read per file.
It catches empty files, files that are not images at all and files whose
header is damaged. A file whose *body* is truncated can pass it; such a file
is still caught while training (see ``CrossDomainMixup(skip_corrupt=...)``).
"""
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, List, Optional, Sequence, Tuple

__all__ = ['image_error', 'unreadable_images', 'dataset_image_paths',
           'format_bad_images']


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
