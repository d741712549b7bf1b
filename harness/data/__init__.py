"""The data contract: what datasets return, and what tasks read.

A dataset plugin's ``load(options)`` returns one of the contracts below for its ``kind``
(``image_classification``, ``detection``, ``series``, ``sequences``, ``texts``); splits may be
held in memory or be a :class:`LazySplit` read sample by sample. harness then writes the data
once into an on-disk cache of Arrow shards (decoded, uint8 for images) and every trial, in
every worker process, reads that cache memory-mapped: a task receives the ``Cached*`` views,
never the objects ``load`` returned. ``docs/plugins.md`` walks through a dataset for a builtin
task and ``docs/data.md`` describes the cache.

Public: everything in ``__all__``. The modules behind it are private.
"""

from harness.data._contracts import DETECTION
from harness.data._contracts import IMAGE_CLASSIFICATION
from harness.data._contracts import SEQUENCES
from harness.data._contracts import SERIES
from harness.data._contracts import TEXTS
from harness.data._contracts import DetectionData
from harness.data._contracts import DetectionSample
from harness.data._contracts import ImageClassificationData
from harness.data._contracts import ImageSample
from harness.data._contracts import ImageSplit
from harness.data._contracts import LazySplit
from harness.data._contracts import SequenceData
from harness.data._contracts import SequenceSample
from harness.data._contracts import SequenceSet
from harness.data._contracts import SeriesData
from harness.data._contracts import Skipped
from harness.data._contracts import TextData
from harness.data._contracts import TextSet
from harness.data._images import DecodedImage
from harness.data._images import fingerprint_files
from harness.data._images import read_image
from harness.data._loader import batches
from harness.data._views import CachedDetection
from harness.data._views import CachedImageClassification
from harness.data._views import CachedSequences
from harness.data._views import CachedSeries
from harness.data._views import CachedTexts
from harness.data._views import DetectionTable
from harness.data._views import ImageTable
from harness.data._views import SequenceTable
from harness.data._views import TextTable

__all__ = [
    "DETECTION",
    "IMAGE_CLASSIFICATION",
    "SEQUENCES",
    "SERIES",
    "TEXTS",
    "CachedDetection",
    "CachedImageClassification",
    "CachedSequences",
    "CachedSeries",
    "CachedTexts",
    "DecodedImage",
    "DetectionData",
    "DetectionSample",
    "DetectionTable",
    "ImageClassificationData",
    "ImageSample",
    "ImageSplit",
    "ImageTable",
    "LazySplit",
    "SequenceData",
    "SequenceSample",
    "SequenceSet",
    "SequenceTable",
    "SeriesData",
    "Skipped",
    "TextData",
    "TextSet",
    "TextTable",
    "batches",
    "fingerprint_files",
    "read_image",
]
