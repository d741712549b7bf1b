"""Frozen records that plugins register, and the small protocols their factories return.

Records carry capability flags (what inputs an architecture needs, whether an optimizer takes
momentum) so the search space adapts to each plugin without the core knowing any of them.
Factories do their heavy imports (torch, timm) when called, never when the plugin is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal
from typing import Protocol

from harness._deprecation import deprecated
from harness._space import Param

if TYPE_CHECKING:
    import torch

__all__ = [
    "REQUIRED",
    "ArchitectureCatalogSpec",
    "ArchitectureSpec",
    "DataSummary",
    "DatasetSpec",
    "InferenceSpec",
    "MetricSpec",
    "ModelRequest",
    "Option",
    "OptimizerSpec",
    "PrunerSpec",
    "RegisterArchitecture",
    "RegisterDataset",
    "RegisterOptimizer",
    "RegisterPruner",
    "RegisterSampler",
    "RegisterScheduler",
    "RegisterTask",
    "RegisterTracker",
    "SamplerSpec",
    "SchedulePlan",
    "ParamGroup",
    "SchedulerSpec",
    "SearchRequest",
    "Task",
    "TaskContext",
    "TaskSpec",
    "Tracker",
    "TrackerSetup",
    "TrackerSpec",
]

Direction = Literal["maximize", "minimize"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Default of an :class:`Option` that the task file must set."""


@dataclass(frozen=True)
class Option:
    """A dataset or task option set in the task file (never searched).

    Attributes:
        type: ``str``, ``int``, ``float``, ``bool``, ``list`` or ``"path"`` (a string resolved
            relative to the task file).
        default: the value when absent, or :data:`REQUIRED`.
        help: one line shown by ``harness plugins show``.
    """

    type: Any
    default: Any = REQUIRED
    help: str = ""


@dataclass(frozen=True)
class ModelRequest:
    """What an architecture factory is asked to build.

    Attributes:
        name: the architecture name as chosen (for catalogs: the variant, e.g. ``resnet18``).
        task: the task's name.
        io: what the task says about inputs and outputs, e.g. ``{"in_chans": 1,
            "num_classes": 10, "img_size": 16}``.
        params: this trial's hyperparameters for the architecture.
    """

    name: str
    task: str
    io: Mapping[str, Any]
    params: Mapping[str, Any]


@dataclass(frozen=True)
class ParamGroup:
    """Some of a model's parameters and how the optimizer treats them (fine-tuning).

    Attributes:
        params: the tensors.
        lr_scale: their learning rate as a share of the trial's ``lr`` (a pretrained backbone
            often wants 0.1 or less; layer-wise decay gives each layer its own share).
        frozen_epochs: they are not trained during the first this-many epochs.
    """

    params: list[Any]
    lr_scale: float = 1.0
    frozen_epochs: int = 0


@dataclass(frozen=True)
class ArchitectureSpec:
    """One named architecture.

    Attributes:
        name: globally unique name used in task files.
        build: ``build(request: ModelRequest) -> torch.nn.Module``.
        tasks: names of the tasks it can serve.
        description: one line for listings.
        params: hyperparameters the search may vary.
        speed_depends_on_weights: its inference speed changes with training (a detector's
            post-processing keeps more boxes early on): every trial measures it, instead of
            reusing an earlier trial's figures for the same setting.
        param_groups: ``param_groups(model, params) -> list[ParamGroup]``: learning-rate
            shares and frozen epochs per part of the model (fine-tuning); None trains every
            parameter at the trial's rate.
        onnx_export: how its trained models export to ONNX: ``"batch"`` (a dynamic batch
            axis), ``"single"`` (one sample per call, e.g. a detector with its
            post-processing) or ``"none"`` (it cannot; ``export_note`` says why).
            ``harness plugins check`` tries it on a tiny input.
        export_note: one line shown by ``harness model export`` (why it cannot, or what its
            export includes).
    """

    name: str
    build: Callable[[ModelRequest], torch.nn.Module]
    tasks: tuple[str, ...]
    description: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)
    speed_depends_on_weights: bool = False
    param_groups: Callable[[Any, Mapping[str, Any]], list[ParamGroup]] | None = None
    onnx_export: Literal["batch", "single", "none"] = "batch"
    export_note: str = ""


@dataclass(frozen=True)
class ArchitectureCatalogSpec:
    """A family of many architectures, listed lazily (e.g. every timm model).

    Task files name variants directly (``resnet18``), by wildcard (``resnet1*``) or qualified
    (``timm/resnet18``). Listing imports the library, so it happens only when a pattern is
    resolved.

    Attributes:
        name: the catalog's name, also the key of its ``[search.space.<name>]`` table.
        list_names: returns every variant name.
        build: like :attr:`ArchitectureSpec.build`; ``request.name`` is the variant.
        tasks: names of the tasks its variants can serve.
        params: hyperparameters shared by every variant.
        sample_variant: the variant the conformance kit checks on behalf of the catalog.
        param_groups: as :attr:`ArchitectureSpec.param_groups`.
        onnx_export, export_note: as for :class:`ArchitectureSpec`, for every variant.
    """

    name: str
    list_names: Callable[[], Sequence[str]]
    build: Callable[[ModelRequest], torch.nn.Module]
    tasks: tuple[str, ...]
    description: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)
    sample_variant: str | None = None
    speed_depends_on_weights: bool = False
    param_groups: Callable[[Any, Mapping[str, Any]], list[ParamGroup]] | None = None
    onnx_export: Literal["batch", "single", "none"] = "batch"
    export_note: str = ""


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer.

    It receives the generic ``lr`` and, where its flags say so, the generic ``weight_decay``
    and ``momentum`` (ranges from the task file's ``[search]``, defaults in the docs); ``params``
    adds its own (e.g. ``beta2``). Declaring ``lr``, ``weight_decay`` or ``momentum`` in
    ``params`` replaces the generic one for this optimizer: its own range and default are
    searched, stored as ``opt.lr``.

    Attributes:
        name: globally unique name used in task files.
        build: ``build(model_parameters, hp) -> torch.optim.Optimizer``; ``hp`` holds the
            generic hyperparameters of :meth:`generic_params` plus ``params``.
        description: one line for listings.
        has_momentum: it takes the generic ``momentum``.
        has_betas: it uses Adam-style betas (informational; declare them in ``params``).
        has_weight_decay: it takes the generic ``weight_decay``.
        params: its own hyperparameters.
    """

    name: str
    build: Callable[[Iterable[Any], Mapping[str, Any]], torch.optim.Optimizer]
    description: str = ""
    has_momentum: bool = False
    has_betas: bool = False
    has_weight_decay: bool = True
    params: Mapping[str, Param] = field(default_factory=dict)

    def generic_params(self) -> tuple[str, ...]:
        """The generic hyperparameters it receives: ``lr`` always, ``weight_decay`` and
        ``momentum`` where the flags say so — except those it declares in ``params``."""
        wanted = {"lr": True, "weight_decay": self.has_weight_decay,
                  "momentum": self.has_momentum}
        return tuple(n for n, applies in wanted.items() if applies and n not in self.params)


@dataclass(frozen=True)
class SchedulePlan:
    """How long training runs, for schedulers that need to know. Schedulers step once per batch."""

    epochs: int
    steps_per_epoch: int

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclass(frozen=True)
class SchedulerSpec:
    """A learning-rate schedule: ``build(optimizer, plan, hp)`` returns one stepped per batch."""

    name: str
    build: Callable[[torch.optim.Optimizer, SchedulePlan, Mapping[str, Any]], Any]
    description: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchRequest:
    """What a sampler's or pruner's ``build`` receives.

    Attributes:
        seed: seed the sampler with it (each run of a study gets its own).
        options: the task file's ``[search.sampler_options]`` (or ``pruner_options``), checked
            against ``options_of``.
        epochs: epochs per trial: the resource multi-fidelity pruners allocate.
        grid: for grid samplers, the values of each parameter to enumerate (architecture,
            optimizer, scheduler, batch_size, lr, and device choices listed several times).
        objectives: how many objectives the study optimises.
        constraints: with ``[constraints]`` set, Optuna's ``constraints_func`` (a finished
            trial → one value per constraint, ≤ 0 when it holds); give it to samplers that
            take one (TPE, NSGA-II, GP), so they steer away from infeasible regions. None
            without constraints. Added in 0.4.
    """

    seed: int
    options: Mapping[str, Any] = field(default_factory=dict)
    epochs: int = 1
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    objectives: int = 1
    constraints: Callable[[Any], Sequence[float]] | None = None


@dataclass(frozen=True)
class SamplerSpec:
    """A search strategy a task file's ``[search] sampler`` may name.

    Attributes:
        name: globally unique name.
        build: ``build(request: SearchRequest)`` returns an ``optuna.samplers.BaseSampler``.
            A sampler with an ``is_exhausted(study)`` method ends the study when it returns
            True (as a grid does).
        description: one line for listings.
        options_of: the callable whose keyword parameters ``[search.sampler_options]`` must
            match, by name and type (usually the Optuna class); None: options are passed on
            unchecked.
    """

    name: str
    build: Callable[[SearchRequest], Any]
    description: str = ""
    options_of: Callable[..., Any] | None = None


@dataclass(frozen=True)
class PrunerSpec:
    """An early-stopping rule a task file's ``[search] pruner`` may name.

    Attributes:
        name: globally unique name.
        build: ``build(request: SearchRequest)`` returns an ``optuna.pruners.BasePruner``; it
            sees each trial's objective after every epoch (``request.epochs`` of them).
        description: one line for listings.
        options_of: as for :class:`SamplerSpec`, for ``[search.pruner_options]``.
    """

    name: str
    build: Callable[[SearchRequest], Any]
    description: str = ""
    options_of: Callable[..., Any] | None = None


@dataclass(frozen=True)
class TrackerSetup:
    """What a tracker's ``build`` receives, once per ``harness run``, in the coordinating
    process.

    Attributes:
        setting: the task file's value for it (``[tracking] mlflow = "http://…"``): a URI, a
            folder or a project name, as the tracker says.
        study: the study's name.
        task: the task's name.
        objectives: the objective columns (``val_accuracy``, ``infer_samples_per_s``, …).
        config: the run's :class:`harness.TaskConfig`.
        shared: ``shared(key, create) -> str``: a value every process of the study shares (an
            MLflow parent run's id), created once by ``create()`` under the study's lock and
            stored with the study.
        folder: a folder beside the results database the tracker may write into.
        device_class: the machine's device (``"cpu: AMD EPYC (2 threads)"``); a trial's
            hardware class adds its precision.
    """

    setting: str
    study: str
    task: str
    objectives: tuple[str, ...]
    config: Any
    shared: Callable[[str, Callable[[], str]], str]
    folder: str
    device_class: str = ""


class Tracker(Protocol):
    """What an experiment tracker does with a study's events. Every method is called in the
    coordinating process, in the order things happen; one that raises is reported once as a
    warning, counted in the run's summary, and never fails a trial."""

    def trial_started(self, plan: Any) -> None:
        """A trial (a :class:`harness.TrialPlan`) starts, or resumes."""
        ...

    def epoch_finished(self, plan: Any, record: Any) -> None:
        """An epoch (an :class:`harness.EpochRecord`) is stored."""
        ...

    def trial_finished(self, result: Any, model_dir: str | None) -> None:
        """A trial ended (a :class:`harness.TrialResult`); ``model_dir``: its kept model's
        local folder (``model.safetensors``, ``card.json``), when it was kept."""
        ...

    def study_finished(self, summary: Any) -> None:
        """The run ended (a :class:`harness.StudySummary`)."""
        ...


def _nothing_missing() -> str | None:
    return None


@dataclass(frozen=True)
class TrackerSpec:
    """An experiment tracker a task file's ``[tracking]`` table may name.

    Attributes:
        name: the key in ``[tracking]`` (``mlflow``, ``tensorboard``, …).
        build: ``build(setup: TrackerSetup) -> Tracker``.
        description: one line for listings.
        setting: what the key's value is, in words (``"tracking URI"``).
        missing: ``missing() -> str | None``: why it cannot run here (its library is not
            installed, with the command that installs it), or None; checked before the study.
    """

    name: str
    build: Callable[[TrackerSetup], Tracker]
    description: str = ""
    setting: str = "a value"
    missing: Callable[[], str | None] = _nothing_missing


@dataclass(frozen=True, init=False)
class DatasetSpec:
    """A data source.

    Attributes:
        data_kind: the data contract it produces, matched against :attr:`TaskSpec.data_kind`
            (e.g. ``"image_classification"``). Named ``kind`` before 0.4: that keyword and
            attribute still work, with a ``DeprecationWarning``, until 0.5.
        load: ``load(options) -> data``; options are validated against ``options``, paths already
            resolved. The result is cached per process and handed to the task. If it has a
            ``repairs`` mapping (kind → count of fixes made to messy input), ``harness run``
            reports it once at the start.
        options: what the ``[dataset]`` table may set.
        test_options: options that make a tiny instance, for the conformance kit
            (``harness plugins check``); a dataset that needs user files leaves it empty and is
            checked only where a test supplies them.
    """

    name: str
    data_kind: str
    load: Callable[[Mapping[str, Any]], Any]
    description: str = ""
    options: Mapping[str, Option] = field(default_factory=dict)
    test_options: Mapping[str, Any] | None = None

    def __init__(self, name: str, data_kind: str | None = None,
                 load: Callable[[Mapping[str, Any]], Any] | None = None, description: str = "",
                 options: Mapping[str, Option] | None = None,
                 test_options: Mapping[str, Any] | None = None, *,
                 kind: str | None = None) -> None:
        if kind is not None:
            deprecated("DatasetSpec(kind=...)", "DatasetSpec(data_kind=...)", since="0.4")
            data_kind = data_kind or kind
        if data_kind is None or load is None:
            missing = "data_kind" if data_kind is None else "load"
            raise TypeError(f"DatasetSpec() missing required argument: '{missing}'")
        for name_, value in (("name", name), ("data_kind", data_kind), ("load", load),
                             ("description", description), ("options", options or {}),
                             ("test_options", test_options)):
            object.__setattr__(self, name_, value)

    @property
    def kind(self) -> str:
        """Deprecated since 0.4 (removed in 0.5): :attr:`data_kind`."""
        deprecated("DatasetSpec.kind", "DatasetSpec.data_kind", since="0.4")
        return self.data_kind


@dataclass(frozen=True)
class MetricSpec:
    """A metric a task reports for the validation and test splits."""

    name: str
    direction: Direction = "maximize"
    description: str = ""


@dataclass(frozen=True)
class DataSummary:
    """What a task can say about a loaded dataset, for the conformance kit.

    Attributes:
        fingerprints: per split, one hash per sample (to check splits are disjoint and loads
            deterministic).
        labels: per split, every label (zero-based) found in it.
        num_classes: labels must lie in ``[0, num_classes)``.
    """

    fingerprints: Mapping[str, Sequence[str]]
    labels: Mapping[str, Sequence[int]]
    num_classes: int


@dataclass(frozen=True)
class TaskContext:
    """What a task factory receives for one trial.

    Attributes:
        data: the dataset's data: for the builtin kinds the cached views of
            :mod:`harness.data`, else what the dataset's ``load`` returned.
        params: this trial's values of the task's ``params``.
        options: the ``[task]`` options, defaults filled in.
        seed: the trial's seed.
        device: where the trial trains (``cpu``, ``cuda:0``, …): batches may be prepared there.
        data_workers: ``[device] data_workers``: 0 prefetches batches in a thread, N > 0 in N
            loader processes (pass it to :func:`harness.data.batches`).
    """

    data: Any
    params: Mapping[str, Any]
    options: Mapping[str, Any]
    seed: int
    device: str = "cpu"
    data_workers: int = 0


class Task(Protocol):
    """What a task object does for the core's task-agnostic training loop.

    A task owns its data splits, preprocessing, loss and evaluation. Batches are opaque to the
    core: the task moves them to the device and computes the loss.

    Optionally, ``adapt_to_model(model) -> None`` is called once the model is built, before
    training: the task may adopt what the model expects (the classification task takes the
    input mean/std of pretrained weights from it); and ``inference_card() -> dict`` says how
    it prepared inputs (sizes, normalisation statistics, class names), for the model card of a
    kept model and its :class:`InferenceSpec`; and ``showcase(model, split, device) -> dict``
    what the report shows of the best kept model on that split; and ``linear_probe(model,
    device) -> dict`` the metrics (``val_<metric>``, ``test_<metric>``) of a linear classifier
    on a pretrained model's frozen features, before training (docs/plugins.md, "Task").
    """

    def model_io(self) -> Mapping[str, Any]:
        """Input/output description passed to architecture factories."""
        ...

    def train_batches(self, batch_size: int, epoch: int) -> Iterator[Any]:
        """Yield the training batches of one epoch (shuffled and augmented, deterministically)."""
        ...

    def split_size(self, split: str) -> int:
        """Number of samples in ``"train"``, ``"val"`` or ``"test"``."""
        ...

    def train_step(self, model: torch.nn.Module, batch: Any,
                   device: torch.device) -> tuple[torch.Tensor, int]:
        """Return ``(loss, samples_in_batch)`` for one batch; the core does backward and step."""
        ...

    def evaluate(self, model: torch.nn.Module, split: str, batch_size: int,
                 device: torch.device) -> dict[str, float]:
        """Metrics on ``"val"`` or ``"test"``, named as in the task's MetricSpecs."""
        ...

    def example_input(self, batch_size: int, device: torch.device) -> Any:
        """A synthetic model input of ``batch_size`` samples on ``device``, for throughput."""
        ...


@dataclass(frozen=True)
class InferenceSpec:
    """How a task's kept models serve files outside a study (``harness model predict``,
    ``harness.api.load_model``). Every function receives the model card (``card``), whose
    ``inference`` entry is what the task's ``inference_card()`` returned at training time, so
    inputs are prepared exactly as the trial prepared them.

    Attributes:
        inputs: what it reads, in words (for ``--help`` and error messages).
        files: ``files(paths, card) -> list[str]``: the input files the given paths name
            (folders expanded), in order; a path that is none raises :class:`DataError`.
        load: ``load(path, card) -> sample``: one input read from a file; a file of the wrong
            kind, size or channels raises :class:`DataError` naming it.
        prepare: ``prepare(samples, card) -> model input``: a batch of loaded (or in-memory)
            samples as the model takes them.
        describe: ``describe(names, samples, outputs, card) -> list[dict]``: rows of
            ``path``, ``prediction``, ``score`` and further columns (per-class probabilities,
            boxes, forecast steps) for a batch's model outputs.
    """

    inputs: str
    files: Callable[[Sequence[str], Mapping[str, Any]], list[str]]
    load: Callable[[str, Mapping[str, Any]], Any]
    prepare: Callable[[Sequence[Any], Mapping[str, Any]], Any]
    describe: Callable[[Sequence[str], Sequence[Any], Any, Mapping[str, Any]],
                       list[dict[str, Any]]]


@dataclass(frozen=True)
class TaskSpec:
    """A task: what is learnt, how it is scored.

    Attributes:
        build: ``build(context: TaskContext) -> Task``.
        data_kind: the dataset kind it consumes.
        metrics: every metric it reports; the first objective defaults to ``primary_metric``.
        params: preprocessing choices the search may vary.
        options: fixed settings the ``[task]`` table may set.
        summarize_data: ``summarize_data(data) -> DataSummary`` for datasets of its kind; lets
            the conformance kit check any such dataset.
        test_params: parameter values that keep a conformance-kit instance tiny.
        inference: how its kept models serve files (``harness model predict``); None: they
            are kept and exported, but predict refuses them.
    """

    name: str
    build: Callable[[TaskContext], Task]
    data_kind: str
    metrics: tuple[MetricSpec, ...]
    primary_metric: str
    description: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)
    options: Mapping[str, Option] = field(default_factory=dict)
    summarize_data: Callable[[Any], DataSummary] | None = None
    test_params: Mapping[str, Any] = field(default_factory=dict)
    inference: InferenceSpec | None = None

    def metric(self, name: str) -> MetricSpec | None:
        return next((m for m in self.metrics if m.name == name), None)


# -- what each register_* hook receives ---------------------------------------------------------
# Typed so that an implementation needs no ``Any``:
#     def register_architectures(register: harness.RegisterArchitecture) -> None: ...

RegisterArchitecture = Callable[[ArchitectureSpec | ArchitectureCatalogSpec], None]
"""``register_architectures(register)``: call it once per architecture or catalog."""
RegisterOptimizer = Callable[[OptimizerSpec], None]
"""``register_optimizers(register)``: call it once per optimizer."""
RegisterScheduler = Callable[[SchedulerSpec], None]
"""``register_schedulers(register)``: call it once per learning-rate schedule."""
RegisterTask = Callable[[TaskSpec], None]
"""``register_tasks(register)``: call it once per task."""
RegisterDataset = Callable[[DatasetSpec], None]
"""``register_datasets(register)``: call it once per dataset."""
RegisterSampler = Callable[[SamplerSpec], None]
"""``register_samplers(register)``: call it once per sampler."""
RegisterPruner = Callable[[PrunerSpec], None]
"""``register_pruners(register)``: call it once per pruner."""
RegisterTracker = Callable[[TrackerSpec], None]
"""``register_trackers(register)``: call it once per experiment tracker."""
