"""The example plugin passes harness's conformance kit: the template for your own tests."""

from harness.testing import ArchitectureContract
from harness.testing import DatasetContract
from harness.testing import OptimizerContract
from harness.testing import TaskContract


class TestMLP(ArchitectureContract):
    name = "example_mlp"


class TestAdamax(OptimizerContract):
    name = "example_adamax"


class TestBlobs(DatasetContract):
    name = "blobs"


class TestVectorTask(TaskContract):
    name = "vector_classification"


class TestStripes(DatasetContract):
    name = "stripes"
