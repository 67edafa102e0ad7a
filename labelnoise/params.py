"""One typed schema for ``params.yaml``: every problem is reported at once, with its key path,
before a stage starts any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

TASKS = ("coarse", "fine", "custom")
SOURCES = ("generate", "folder", "csv")
BASES = ("skimage", "procedural", "folder")
NOISE_KINDS = ("symmetric", "pairflip", "within_coarse", "matrix")
MODELS = ("small_cnn", "resnet18")
DEVICES = ("auto", "cpu", "cuda")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Section):
    source: Literal["generate", "folder", "csv"] = "generate"
    path: str = Field("images", min_length=1)
    task: Literal["coarse", "fine", "custom"] = "coarse"
    image_size: int = Field(32, ge=8, le=512)
    base: Literal["skimage", "procedural", "folder"] = "skimage"
    base_path: str | None = None
    n_train: int = Field(3000, ge=1)
    n_val_per_class: int = Field(60, ge=1)
    n_test: int = Field(1200, ge=1)
    vertices: tuple[int, int] = (5, 9)
    area: tuple[float, float] = (0.2, 0.4)
    crop_scale: tuple[float, float] = (0.25, 1.0)
    chunk_size: int = Field(1024, ge=1)
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    resize: Literal["crop", "pad", "stretch"] = "crop"
    on_bad_image: Literal["error", "skip"] = "error"
    workers: int = Field(0, ge=0)

    @field_validator("vertices")
    @classmethod
    def _vertices(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 3 <= value[0] <= value[1]:
            raise ValueError(f"needs 3 <= low <= high, got {list(value)}")
        return value

    @field_validator("area", "crop_scale")
    @classmethod
    def _fraction_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 < value[0] <= value[1] <= 1.0:
            raise ValueError(f"needs 0 < low <= high <= 1, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _paths(self) -> DataParams:
        if self.base == "folder" and not self.base_path:
            raise ValueError("data.base_path is required when data.base is 'folder'")
        return self


class NoiseParams(_Section):
    rates: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.2])
    kind: Literal["symmetric", "pairflip", "within_coarse", "matrix"] = "symmetric"
    matrix: list[list[float]] | None = None
    inject_own: bool = False

    @field_validator("rates", mode="before")
    @classmethod
    def _one_spelling(cls, value: object) -> object:
        # Files and folders are named by a rate's float spelling: 0 and 0.0 are one rate.
        if isinstance(value, list):
            return [
                float(rate) if isinstance(rate, int) and not isinstance(rate, bool) else rate
                for rate in value
            ]
        return value

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("needs at least one rate")
        bad = [rate for rate in value if not 0.0 <= rate < 1.0]
        if bad:
            raise ValueError(f"every rate must be in [0, 1), got {bad}")
        if len(set(value)) != len(value):
            raise ValueError(f"rates must be distinct, got {value}")
        return value

    @model_validator(mode="after")
    def _matrix(self) -> NoiseParams:
        if self.kind == "matrix" and self.matrix is None:
            raise ValueError("noise.matrix is required when noise.kind is 'matrix'")
        return self


class TrainParams(_Section):
    model: Literal["small_cnn", "resnet18"] = "small_cnn"
    width: int = Field(16, ge=1, le=1024)
    depth: int = Field(3, ge=1, le=8)
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(0.05, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5.0e-4, ge=0.0, lt=1.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    loss: Literal["cross_entropy", "gce"] = "cross_entropy"
    gce_q: float = Field(0.7, gt=0.0, le=1.0)
    warmup_epochs: float = Field(1.0, ge=0.0)
    crop_padding: int = Field(2, ge=0)
    hflip: bool = True
    class_weights: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0)
    workers: int = Field(0, ge=0)
    compile: bool = False
    weights: str | None = None
    eval_batch_size: int = Field(1024, ge=1)
    folds: int = Field(4, ge=2, le=20)
    stack_folds: bool = False
    distributed: bool = False
    nproc_per_node: int = Field(2, ge=1)


class CleanParams(_Section):
    methods: list[str]
    trained: list[str] = Field(default_factory=list)
    cleanlab: dict[str, Any] = Field(default_factory=dict)
    tvnet: dict[str, Any] = Field(default_factory=dict)
    data_params: dict[str, Any] = Field(default_factory=dict)
    mistakenness: dict[str, Any] = Field(default_factory=dict)
    hardness: dict[str, Any] = Field(default_factory=dict)
    aum: dict[str, Any] = Field(default_factory=dict)
    consensus: dict[str, Any] = Field(default_factory=dict)
    none: dict[str, Any] = Field(default_factory=dict)
    oracle: dict[str, Any] = Field(default_factory=dict)
    random: dict[str, Any] = Field(default_factory=dict)

    @field_validator("methods", "trained")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        from labelnoise.clean import METHODS

        unknown = [name for name in value if name not in METHODS]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; valid: {sorted(METHODS)}")
        if len(set(value)) != len(value):
            raise ValueError(f"methods must be distinct, got {value}")
        return value

    @model_validator(mode="after")
    def _lists(self) -> CleanParams:
        from labelnoise.clean import MODEL_TRAINING

        if not self.trained:
            # The clean stage depends on data/fit, the fit stages' folder, which DVC needs.
            raise ValueError(
                "clean.trained must name at least one model-training method (aum is the "
                f"quickest); valid: {sorted(MODEL_TRAINING)}"
            )
        light = [name for name in self.trained if name not in MODEL_TRAINING]
        if light:
            raise ValueError(
                f"clean.trained {light} train no model of their own: list them in clean.methods"
            )
        heavy = [name for name in self.methods if name in MODEL_TRAINING]
        if heavy:
            raise ValueError(
                f"clean.methods {heavy} train models of their own: list them in clean.trained"
            )
        both = set(self.methods) & set(self.trained)
        if both:
            raise ValueError(f"{sorted(both)} listed in both clean.methods and clean.trained")
        if "consensus" in self.methods:
            members = self.consensus.get("members")
            if not isinstance(members, list) or not members:
                raise ValueError("clean.consensus.members must be a non-empty list of methods")
            cleaned = set(self.cleaned) - {"consensus", "none", "oracle", "random"}
            missing = [name for name in members if name not in cleaned]
            if missing:
                raise ValueError(
                    f"clean.consensus.members {missing} are not cleaned; valid: {sorted(cleaned)}"
                )
        return self

    @property
    def cleaned(self) -> list[str]:
        """Every method the pipeline scores: ``methods`` then ``trained``."""
        return [*self.methods, *self.trained]


class RetrainParams(_Section):
    methods: list[str]
    relabel: list[str] = Field(default_factory=list)
    confidence: float = Field(0.5, gt=0.0, le=1.0)
    robust: list[Literal["gce"]] = Field(default_factory=list)

    @field_validator("methods", "relabel", "robust")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"arms must be distinct, got {value}")
        return value

    @property
    def arms(self) -> list[str]:
        """Every retrained arm: the methods that drop, ``<method>_relabel`` for those that
        relabel, then the robust losses (the arm trained on the noisy labels is the baseline)."""
        from labelnoise.clean.relabel import SUFFIX

        return [*self.methods, *(f"{m}{SUFFIX}" for m in self.relabel), *self.robust]


class ReportParams(_Section):
    rate: float | None = None  # None: the largest rate in (0, 0.2], else the largest rate
    top_k: int = Field(8, ge=1)
    methods: list[str] | None = None
    tsne_method: str | None = None


class RegressParams(_Section):
    bootstrap: int = Field(2000, ge=1)  # parametric-bootstrap draws of the interval fits
    drops: list[float] = Field(default_factory=lambda: [1.0, 5.0], min_length=1)  # points
    reference: str = "none"  # the arm the GLM contrasts the others against
    grid: int = Field(41, ge=2)  # rates the fitted accuracy curves are drawn at

    @field_validator("drops")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        bad = [drop for drop in value if not 0.0 < drop < 100.0]
        if bad:
            raise ValueError(f"accuracy drops are points in (0, 100), got {bad}")
        return value


class ResultsParams(_Section):
    rate: float | None = None  # None: as report.rate
    method: str | None = None  # None: consensus when it runs, else the first cleaning method
    links: Literal["hardlink", "symlink", "auto"] = "hardlink"
    n_neighbors: int = Field(20, ge=2)
    near_duplicate: float = Field(0.1, gt=0.0, lt=1.0)


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
    def _within_coarse_needs_fine(self) -> Params:
        if self.noise.kind == "within_coarse" and self.data.task != "fine":
            raise ValueError(
                f"noise.kind within_coarse flips a subclass to a sibling: it needs data.task "
                f"fine, not {self.data.task!r}"
            )
        return self

    @model_validator(mode="after")
    def _report_and_results_rates(self) -> Params:
        rates = self.rates
        if self.report.rate is None:
            positive = [rate for rate in rates if 0.0 < rate <= 0.2] or rates
            object.__setattr__(self.report, "rate", max(positive))
        elif self.report.rate not in rates:
            raise ValueError(f"report.rate {self.report.rate} is not one of the rates {rates}")
        if self.results.rate is None:
            object.__setattr__(self.results, "rate", self.report.rate)
        elif self.results.rate not in rates:
            raise ValueError(f"results.rate {self.results.rate} is not one of the rates {rates}")
        return self

    @model_validator(mode="after")
    def _regress_reference(self) -> Params:
        arms = ["none", *self.retrain.arms]
        if self.regress.reference not in arms:
            raise ValueError(
                f"regress.reference {self.regress.reference!r} is not an arm; valid: {arms}"
            )
        return self

    @model_validator(mode="after")
    def _results_method(self) -> Params:
        from labelnoise.clean import REFERENCE

        valid = [name for name in self.clean.cleaned if name not in REFERENCE]
        if self.results.method is None:
            chosen = "consensus" if "consensus" in valid else next(iter(valid), None)
            object.__setattr__(self.results, "method", chosen)
        elif self.results.method not in valid:
            raise ValueError(
                f"results.method {self.results.method!r} is not a cleaning method of "
                f"clean.methods or clean.trained; valid: {valid}"
            )
        return self

    @model_validator(mode="after")
    def _retrain_methods(self) -> Params:
        valid = set(self.clean.cleaned) - {"none"}
        for key in ("methods", "relabel"):
            unknown = [name for name in getattr(self.retrain, key) if name not in valid]
            if unknown:
                raise ValueError(
                    f"retrain.{key} {unknown} are not cleaned (none is the baseline itself); "
                    f"valid: {sorted(valid)}"
                )
        return self


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} invalid parameter(s):"]
    for item in err.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {key}: {message} (got {item.get('input')!r})")
    return "\n".join(lines)


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
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ValueError(_format_errors(err, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    return validate(read_yaml(path), source=str(path))
