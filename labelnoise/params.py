"""One typed schema for ``params.yaml``: every problem is reported at once, with its key path,
before a stage starts any work.

The knobs are declared beside the code that uses them, stdlib-only: ``data`` in
:class:`labelnoise.data.config.DataConfig`, ``noise`` and ``regress`` in
:mod:`labelnoise.config`, ``train`` in :class:`labelnoise.train.config.TrainConfig`. Their
sections here are built from those declarations, so the schema accepts what the library
functions they reach accept (``tests/test_properties.py``), and a bound or a rule between knobs
is refused with the same message (:mod:`labelnoise.knobs`) by both; types are pydantic's.
"""

from __future__ import annotations

import copy
from dataclasses import MISSING
from functools import cache, partial
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from labelnoise.clean.flagging import FlagRule
from labelnoise.config import NoiseConfig, RegressConfig
from labelnoise.data.config import DataConfig, LinkMode
from labelnoise.issues import IMAGE_CHECKS, ImageCheck
from labelnoise.knobs import Knob, knob_problems
from labelnoise.knobs import knobs as declared_knobs
from labelnoise.train.config import Loss, TrainConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _refuse(problems: list[str]) -> None:
    """Raise the messages of :mod:`labelnoise.knobs` (each leads with its key path) as one
    error, which :func:`validate` lists line by line."""
    if problems:
        raise ValueError("\n".join(problems))


def _checked(declared: Knob, section: str, value: Any) -> Any:
    _refuse(knob_problems(declared, value, section=section))
    return value


def _knob_fields(spec: type, section: str) -> dict[str, Any]:
    """One pydantic field per knob of ``spec``: typed and defaulted as declared, and checked by
    the declaration's own check (:func:`labelnoise.knobs.knob_problems`)."""
    fields: dict[str, Any] = {}
    for name, declared in declared_knobs(spec).items():
        kind = Annotated[declared.kind, AfterValidator(partial(_checked, declared, section))]
        if declared.default is MISSING:
            fields[name] = (kind, Field(...))
        elif isinstance(declared.default, list):
            fields[name] = (kind, Field(default_factory=partial(copy.deepcopy, declared.default)))
        else:
            fields[name] = (kind, Field(declared.default))
    return fields


class _DataSection(_Section):
    """The rules between the data knobs (:meth:`DataConfig.joint`), and the pipeline's own."""

    @model_validator(mode="after")
    def _joint(self) -> _DataSection:
        _refuse([*DataConfig.joint(dict(self)), *_pipeline_splits(self)])
        return self


def _pipeline_splits(data: _DataSection) -> list[str]:
    """The pipeline trains on a trusted val split and tests on a test split: neither fraction
    may be 0, which the import takes as "carve none"."""
    return [
        f"data.{name} must be > 0 in the pipeline (it needs a val and a test split), got {value}"
        for name in ("val_fraction", "test_fraction")
        if (value := getattr(data, name)) <= 0
    ]


DataParams = create_model(
    "DataParams",
    __base__=_DataSection,
    __doc__="``data``: every knob of :class:`labelnoise.data.config.DataConfig`, typed, bounded "
    "and defaulted as it declares.",
    **_knob_fields(DataConfig, "data"),
)


class _NoiseSection(_Section):
    """The rules between the noise knobs (:meth:`NoiseConfig.joint`)."""

    @field_validator("rates", mode="before", check_fields=False)
    @classmethod
    def _one_spelling(cls, value: object) -> object:
        # Files and folders are named by a rate's float spelling: 0 and 0.0 are one rate.
        if isinstance(value, list):
            return [
                float(rate) if isinstance(rate, int) and not isinstance(rate, bool) else rate
                for rate in value
            ]
        return value

    @model_validator(mode="after")
    def _joint(self) -> _NoiseSection:
        _refuse(NoiseConfig.joint(dict(self)))
        return self


NoiseParams = create_model(
    "NoiseParams",
    __base__=_NoiseSection,
    __doc__="``noise``: every knob of :class:`labelnoise.config.NoiseConfig`, typed, bounded "
    "and defaulted as it declares.",
    **_knob_fields(NoiseConfig, "noise"),
)


class _LaunchParams(_Section):
    """How trainings are launched, and the rules between the training knobs
    (:meth:`TrainConfig.joint`); the knobs of one training come from :class:`TrainConfig`."""

    workers: int = Field(0, ge=0)  # trainings side by side on the CPU, 0 = one per core
    folds: int = Field(4, ge=2, le=20)  # K of the out-of-sample probabilities
    fold_loss: Loss = "gce"  # loss of the K fold models behind every score
    stack_folds: bool = False  # the K fold models trained at once (torch.func vmap)
    distributed: bool = False  # data-parallel under torchrun
    nproc_per_node: int = Field(2, ge=1)  # processes when distributed

    @model_validator(mode="after")
    def _joint(self) -> _LaunchParams:
        _refuse(TrainConfig.joint(dict(self)))
        return self


TrainParams = create_model(
    "TrainParams",
    __base__=_LaunchParams,
    __doc__="``train``: every knob of :class:`labelnoise.train.TrainConfig`, typed, bounded "
    "and defaulted as it declares, and how trainings are launched.",
    **_knob_fields(TrainConfig, "train"),
)
LAUNCH_KNOBS = frozenset(_LaunchParams.model_fields)
"""The ``train`` keys that are not :class:`labelnoise.train.TrainConfig` knobs."""


class CleanParams(_Section):
    """``clean``: the methods that run; :func:`schema` adds one typed params block per
    registered method, the fields of which the method's ``run`` declares."""

    methods: list[str]
    trained: list[str] = Field(default_factory=lambda: ["data_params", "aum"])
    count: FlagRule = "cost"  # labelnoise.clean.flagging: how every method's flags are chosen
    cost_ratio: float = Field(1.5, gt=0.0)  # a false label kept / a correct one flagged
    # Methods flagged by their own rule; opt-in (params.yaml lists hardness), like the arms of
    # RetrainParams: a default naming methods would need them cleaned too.
    flag_own: list[str] = Field(default_factory=list)

    @field_validator("methods", "trained", "flag_own")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        from labelnoise.clean import METHODS, load_error

        unknown = [name for name in value if name not in METHODS]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; valid: {sorted(METHODS)}")
        broken = [error for error in map(load_error, value) if error]
        if broken:
            raise ValueError("; ".join(broken))
        if len(set(value)) != len(value):
            raise ValueError(f"methods must be distinct, got {value}")
        return value

    @property
    def cleaned(self) -> list[str]:
        """Every method the pipeline scores: ``methods`` then ``trained``."""
        return [*self.methods, *self.trained]

    def settings(self, name: str) -> dict[str, Any]:
        """The keyword arguments of method ``name``'s ``run``: its validated params block."""
        return getattr(self, name).model_dump()


class RetrainParams(_Section):
    methods: list[str]
    # The arms beyond dropping are opt-in (params.yaml turns them on): a default naming methods
    # would need them cleaned and retrained in every params file that leaves them out.
    relabel: list[str] = Field(default_factory=list)
    second: list[str] = Field(default_factory=list)  # second generation on the drop arm's model
    confidence: float = Field(0.9, gt=0.0, le=1.0)
    robust: list[Literal["gce"]] = Field(default_factory=list)

    @field_validator("methods", "relabel", "second", "robust")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"arms must be distinct, got {value}")
        return value

    @property
    def arms(self) -> list[str]:
        """Every retrained arm: the methods that drop, ``<method>_relabel`` for those that
        relabel, ``<method>_second`` for the second generations, then the robust losses (the
        arm trained on the noisy labels is the baseline)."""
        from labelnoise.clean.relabel import SECOND_SUFFIX, SUFFIX

        return [
            *self.methods,
            *(f"{m}{SUFFIX}" for m in self.relabel),
            *(f"{m}{SECOND_SUFFIX}" for m in self.second),
            *self.robust,
        ]


class ReportParams(_Section):
    rate: float | None = None  # None: the largest rate in (0, 0.2], else the largest rate
    top_k: int = Field(8, ge=1)
    methods: list[str] | None = None
    tsne_method: str | None = None


RegressParams = create_model(
    "RegressParams",
    __base__=_Section,
    __doc__="``regress``: every knob of :class:`labelnoise.config.RegressConfig`, typed, "
    "bounded and defaulted as it declares.",
    **_knob_fields(RegressConfig, "regress"),
)


class ResultsParams(_Section):
    rate: float | None = None  # None: as report.rate
    method: str | None = None  # None: consensus when it runs, else the first cleaning method
    links: LinkMode = "hardlink"
    n_neighbors: int = Field(20, ge=2)  # k of Datalab's nearest-neighbour graph
    near_duplicate: float = Field(0.1, gt=0.0, lt=1.0)  # Datalab's near_duplicate threshold
    image_checks: list[ImageCheck] = Field(default_factory=lambda: list(IMAGE_CHECKS))
    image_workers: int = Field(1, ge=1)  # cleanvision's processes


class Params(_Section):
    seed: int = Field(0, ge=0)
    data: DataParams = Field(default_factory=DataParams)
    noise: NoiseParams = Field(default_factory=NoiseParams)
    train: TrainParams = Field(default_factory=TrainParams)
    clean: CleanParams
    retrain: RetrainParams
    regress: RegressParams = Field(default_factory=RegressParams)
    report: ReportParams = Field(default_factory=ReportParams)
    results: ResultsParams = Field(default_factory=ResultsParams)

    @property
    def rates(self) -> list[float]:
        """The grid's false-label rates: ``noise.rates``, or with your own images
        (``data.source`` folder or csv) your labels as given, ``[0.0]``, unless
        ``noise.inject_own`` falsifies them at ``noise.rates`` on top."""
        if self.data.source != "generate" and not self.noise.inject_own:
            return [0.0]
        return list(self.noise.rates)

    @model_validator(mode="after")
    def _cross_checks(self) -> Params:
        problems = [
            *_clean_problems(self.clean),
            *_retrain_problems(self),
            *_report_problems(self),
            *_results_problems(self),
            *_regress_problems(self),
        ]
        from labelnoise.train.config import smallest_image

        smallest = smallest_image(self.train.model, self.train.depth)
        if self.data.image_size < smallest:  # imported images are resized to it too
            problems.append(
                f"train.depth: {self.train.model} of depth {self.train.depth} needs images of at "
                f"least {smallest} px; data.image_size is {self.data.image_size}"
            )
        if self.noise.kind == "within_coarse" and self.data.task != "fine":
            problems.append(
                f"noise.kind: within_coarse flips a subclass to a sibling: it needs data.task "
                f"fine, not {self.data.task!r}"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _capable(names: list[str], capability: str) -> list[str]:
    from labelnoise.clean import METHODS

    return [name for name in names if getattr(METHODS[name], capability)]


def _outside(key: str, names: list | str | None, valid: list, what: str) -> list[str]:
    """One problem line for the ``names`` (a list, or one name) at ``key`` that are not
    ``valid``, if any; None is no name."""
    if names is None or isinstance(names, str):
        return (
            [] if names is None or names in valid else [f"{key}: {names!r} {what}; valid: {valid}"]
        )
    unknown = [name for name in names if name not in valid]
    return [f"{key}: {unknown} {what}; valid: {valid}"] if unknown else []


def _clean_problems(clean: CleanParams) -> list[str]:
    from labelnoise.clean import METHODS, load_error

    problems = []
    if not clean.trained:
        # The clean stage depends on data/fit, the fit stages' folder, which DVC needs.
        loadable = [name for name in METHODS if not load_error(name)]
        problems.append(
            "clean.trained: must name at least one model-training method (aum is the "
            f"quickest); valid: {_capable(loadable, 'trains_model')}"
        )
    training = _capable(clean.cleaned, "trains_model")
    problems += _outside(
        "clean.trained", clean.trained, training, "train no model of their own: list them in "
        "clean.methods"
    )  # fmt: skip
    problems += _outside(
        "clean.methods", clean.methods, [m for m in clean.methods if m not in training],
        "train models of their own: list them in clean.trained",
    )  # fmt: skip
    both = sorted(set(clean.methods) & set(clean.trained))
    if both:
        problems.append(f"clean.methods: {both} listed in both methods and trained")
    others = set(_capable(clean.cleaned, "reference") + _capable(clean.cleaned, "combines"))
    voters = [name for name in clean.cleaned if name not in others]
    for name in _capable(clean.methods, "combines"):
        members = list(getattr(getattr(clean, name), "members", None) or [])
        if not members:
            problems.append(f"clean.{name}.members: must name at least one method")
        problems += _outside(
            f"clean.{name}.members", members, voters,
            "are not cleaning methods that run (clean.methods, clean.trained; not a reference arm)",
        )  # fmt: skip
    return problems


def _retrain_problems(params: Params) -> list[str]:
    from labelnoise.clean import BASELINE

    valid = [name for name in params.clean.cleaned if name != BASELINE]
    what = f"are not cleaned ({BASELINE} is the baseline itself)"
    return [
        *_outside("retrain.methods", params.retrain.methods, valid, what),
        *_outside("retrain.relabel", params.retrain.relabel, valid, what),
        *_outside(
            "retrain.second", params.retrain.second, params.retrain.methods,
            "build on the drop arm's model: list them in retrain.methods too",
        ),
    ]  # fmt: skip


def _rate_problems(key: str, rate: float | None, rates: list[float]) -> list[str]:
    return (
        [] if rate is None or rate in rates else [f"{key}: {rate} is not one of the rates {rates}"]
    )


def _report_problems(params: Params) -> list[str]:
    rates, report, cleaned = params.rates, params.report, params.clean.cleaned
    problems = _rate_problems("report.rate", report.rate, rates)
    if report.rate is None:
        positive = [rate for rate in rates if 0.0 < rate <= 0.2] or rates
        object.__setattr__(report, "rate", max(positive))
    problems += _outside("report.methods", report.methods or [], cleaned, "are not cleaned")
    return problems + _outside("report.tsne_method", report.tsne_method, cleaned, "is not cleaned")


def _results_problems(params: Params) -> list[str]:
    results = params.results
    problems = _rate_problems("results.rate", results.rate, params.rates)
    if results.rate is None:
        object.__setattr__(results, "rate", params.report.rate)
    reference = _capable(params.clean.cleaned, "reference")
    valid = [name for name in params.clean.cleaned if name not in reference]
    if results.method is None:
        combined = _capable(valid, "combines")
        object.__setattr__(results, "method", next(iter(combined or valid), None))
    problems += _outside(
        "results.method",
        results.method,
        valid,
        "is not a cleaning method of clean.methods or clean.trained",
    )
    if results.method in valid and results.method not in params.retrain.methods:
        # The cleaned model (stage `model`) is the drop arm that retrain@<results.method> trains.
        problems.append(
            f"results.method: {results.method!r} has no drop arm, so no cleaned model to deploy: "
            f"list it in retrain.methods {params.retrain.methods} too"
        )
    return problems


def _regress_problems(params: Params) -> list[str]:
    from labelnoise.clean import BASELINE

    arms = [BASELINE, *params.retrain.arms]
    return _outside("regress.reference", params.regress.reference, arms, "is not an arm")


@cache
def _schema(methods: tuple[str, ...]) -> type[Params]:
    from labelnoise.clean import METHODS, load_error, params_model

    blocks: dict[str, Any] = {}
    for name in methods:
        if load_error(name):  # refused only where listed (CleanParams._known)
            blocks[name] = (dict[str, Any], Field(default_factory=dict))
            continue
        model = params_model(type(METHODS[name]))
        blocks[name] = (model, Field(default_factory=model))
    clean = create_model("CleanParams", __base__=CleanParams, **blocks)
    return create_model("Params", __base__=Params, clean=(clean, ...))


def schema() -> type[Params]:
    """The model of the whole of ``params.yaml``: :class:`Params` whose ``clean`` section has a
    params block ``clean.<name>`` for every registered method, typed by that method's ``run``
    (:func:`labelnoise.clean.params_model`)."""
    from labelnoise.clean import METHODS

    return _schema(tuple(METHODS))


def _format_errors(err: ValidationError, source: str) -> str:
    lines = []
    for item in err.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        if key and not _names_its_key(message, key):
            lines.append(f"  {key}: {message} (got {item.get('input')!r})")
        else:  # the declarations' and cross-field checks: one line per problem, led by its key
            lines.extend(f"  {line}" for line in message.splitlines())
    return "\n".join([f"{source}: {len(lines)} invalid parameter(s):", *lines])


def _names_its_key(message: str, key: str) -> bool:
    """Whether ``message`` leads with ``key`` or a key under it, as the declarations' do."""
    return message.startswith(key) and message[len(key) : len(key) + 1] in (" ", ":", ".", "[")


def read_yaml(path: str | Path) -> dict:
    """Read a YAML 1.2 file (``1e-3`` is a float, as in DVC), naming the file on errors."""
    from ruamel.yaml import YAML, YAMLError

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    try:
        content = YAML(typ="safe", pure=True).load(path.read_text())
    except YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return content


def validate(raw: dict, *, source: str = "params") -> Params:
    """Validate a params mapping; every problem is listed in one ``ValueError``."""
    try:
        return schema().model_validate(raw)
    except ValidationError as err:
        raise ValueError(_format_errors(err, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    return validate(read_yaml(path), source=str(path))
