# the benchmark's fixtures: the analysis tools read the same method configs
# (relative to the repository root) and plan the same stages
from tests.test_benchmark.conftest import repo_cwd  # noqa: F401
from tests.test_benchmark.conftest import \
    without_natural_photo_pool  # noqa: F401
