import os.path as osp
from importlib import metadata

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
PTH = 'mixssl_mm_startup.pth'


def mmcv_requirement():
    # A full mmcv (with compiled ops) satisfies everything mmcv-lite offers;
    # requiring mmcv-lite next to it would overwrite its files.
    try:
        metadata.version('mmcv')
        return 'mmcv>=2.0.0,<2.3.0'
    except metadata.PackageNotFoundError:
        return 'mmcv-lite>=2.0.0,<2.3.0'


class BuildPyWithPth(build_py):
    """Ship the start-up hook's .pth at the top of the wheel (site-packages),
    for regular and editable installs alike."""

    def run(self):
        super().run()
        self.copy_file(osp.join(HERE, PTH), osp.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [
            osp.join(self.build_lib, PTH)
        ]

    def get_output_mapping(self):
        mapping = super().get_output_mapping()
        mapping[osp.join(self.build_lib, PTH)] = osp.join(HERE, PTH)
        return mapping


cmdclass = {'build_py': BuildPyWithPth}
try:  # setuptools >= 64: PEP 660 editable installs bypass build_py's outputs
    from setuptools.command.editable_wheel import editable_wheel

    class _StrategyWithPth:

        def __init__(self, strategy):
            self.strategy = strategy

        def __enter__(self):
            self.strategy.__enter__()
            return self

        def __exit__(self, *exc):
            return self.strategy.__exit__(*exc)

        def __call__(self, wheel, files, mapping):
            self.strategy(wheel, files, mapping)
            with open(osp.join(HERE, PTH)) as f:
                wheel.writestr(PTH, f.read())

    class EditableWheelWithPth(editable_wheel):

        def _select_strategy(self, *args, **kwargs):
            return _StrategyWithPth(super()._select_strategy(*args, **kwargs))

    cmdclass['editable_wheel'] = EditableWheelWithPth
except ImportError:  # pragma: no cover
    pass


def version():
    scope = {}
    with open(osp.join(HERE, 'mixssl_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mixssl_mm',
    version=version(),
    description='MixSSL (mix-up self-supervised learning, ICME 2022) as an '
    'MMPretrain plugin',
    long_description=open(osp.join(HERE, 'README.md')).read()
    if osp.exists(osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['mixssl_mm', 'mixssl_mm.*']),
    py_modules=['mixssl_mm_startup'],
    cmdclass=cmdclass,
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'numpy',
        'mmengine>=0.10.6,<1.0.0',
        mmcv_requirement(),
        'mmpretrain>=1.2.0,<1.3.0',
    ],
    extras_require={
        'tests': ['pytest', 'scipy', 'scikit-image', 'scikit-learn', 'matplotlib'],
        'data': ['scikit-image', 'scikit-learn', 'matplotlib'],
        # tools/benchmark.py: paired t intervals (scipy), stratified label
        # fractions (scikit-learn), results.png (matplotlib)
        'benchmark': ['scipy', 'scikit-learn', 'matplotlib'],
    },
    zip_safe=False,
)
