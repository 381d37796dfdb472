import os.path as osp
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
# mmcv is not an install requirement, as in mmpretrain's own setup.py: full
# mmcv (compiled CUDA ops, installed with mim for one CUDA/torch pair) and
# mmcv-lite (its pure-Python part) both provide the `mmcv` package, and pip
# would install one over the other. `import mixssl_mm` names the fix when
# neither is there; the `mmcv-lite` extra installs the lite one
# (docs/install.md).
MMCV_LITE = 'mmcv-lite>=2.0.0,<2.3.0'


def version():
    scope = {}
    with open(osp.join(HERE, 'mixssl_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def readme():
    path = osp.join(HERE, 'README.md')
    if not osp.exists(path):
        return ''
    with open(path, encoding='utf-8') as f:
        return f.read()


setup(
    name='mixssl_mm',
    version=version(),
    description='MixSSL (mix-up self-supervised learning, ICME 2022) as an '
    'MMPretrain plugin',
    long_description=readme(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['mixssl_mm', 'mixssl_mm.*']),
    # the configs and model index, as mmpretrain ships its own under
    # mmpretrain/.mim: `_base_ = ['mixssl_mm::mixssl/...']` reads them from
    # an installed wheel (mixssl_mm/.mim/* are symlinks into the checkout)
    package_data={
        'mixssl_mm': [
            '.mim/model-index.yml', '.mim/configs/**/*.py',
            '.mim/configs/**/*.yml', '.mim/configs/**/*.md'
        ]
    },
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'numpy',
        # ROCAUC / PerClassAccuracy (the default evaluators) are adapters
        # over scikit-learn's metrics
        'scikit-learn',
        'mmengine>=0.10.6,<1.0.0',
        'mmpretrain>=1.2.0,<1.3.0',
    ],
    extras_require={
        'mmcv-lite': [MMCV_LITE],
        'tests': [
            'pytest', 'pytest-xdist', 'scipy', 'scikit-image', 'scikit-learn',
            'matplotlib'
        ],
        'data': ['scikit-image', 'scikit-learn', 'matplotlib'],
        # tools/benchmark.py: paired t intervals (scipy), stratified label
        # fractions (scikit-learn), results.png (matplotlib)
        'benchmark': ['scipy', 'scikit-learn', 'matplotlib'],
        # OpenMMLab's linters, as setup.cfg and .pre-commit-config.yaml
        'lint': ['flake8==7.1.1', 'isort==5.13.2', 'yapf==0.43.0'],
    },
    zip_safe=False,
)
