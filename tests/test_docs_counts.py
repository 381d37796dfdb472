"""What the docs list from the tree stays in step with it (issue 23, item
8): compat.md listed 7 of the 8 fixes, architecture.md missed 5 registered
components, and getting_started.md linked docs/x.md from inside docs/."""
import glob
import os.path as osp
import re

from mmpretrain.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS

from mixssl_mm import compat

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _table_names(page, header):
    """First-column names (in backticks) of the table under ``header``."""
    with open(osp.join(REPO, page), encoding='utf-8') as f:
        text = f.read()
    start = text.index(header)
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith('|'):
            break
        rows.append(line)
    return [re.match(r'\| `([^`]+)`', row).group(1) for row in rows]


def test_compat_md_lists_every_fix_once():
    names = _table_names('docs/compat.md', '| name | applied when |')
    assert sorted(names) == sorted(fix.name for fix in compat.FIXES), (
        'docs/compat.md, "The fixes": one row per mixssl_mm.compat.FIXES '
        'entry')


def test_architecture_md_names_every_registered_component():
    # what `import mixssl_mm` registers, read from mmpretrain's registries
    with open(osp.join(REPO, 'docs/architecture.md'), encoding='utf-8') as f:
        text = f.read()
    missing = [
        name for registry in (MODELS, TRANSFORMS, DATASETS, HOOKS, METRICS)
        for name, cls in registry.module_dict.items()
        if cls.__module__.startswith('mixssl_mm.')
        and not re.search(rf'\b{name}\b', text)
    ]
    assert missing == [], (
        f'docs/architecture.md does not name {missing}: add each where its '
        'file is listed')
    hooks = _table_names('docs/architecture.md', '| hook | what it does |')
    assert sorted(hooks) == sorted(
        name for name, cls in HOOKS.module_dict.items()
        if cls.__module__.startswith('mixssl_mm.')), (
            'docs/architecture.md, "Engine hooks": one row per hook')


def test_relative_links_in_the_docs_resolve():
    # a page under docs/ links its neighbours as `x.md`, not `docs/x.md`
    pages = ['README.md'] + [
        osp.relpath(p, REPO)
        for pattern in ('docs/*.md', 'configs/**/README.md')
        for p in glob.glob(osp.join(REPO, pattern), recursive=True)
    ]
    broken = []
    for page in pages:
        with open(osp.join(REPO, page), encoding='utf-8') as f:
            for n, line in enumerate(f, 1):
                for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', line):
                    path = osp.join(REPO, osp.dirname(page), target)
                    if '://' not in target and not osp.exists(path):
                        broken.append(f'{page}:{n}: {target}')
    assert broken == [], broken
