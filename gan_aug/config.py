"""One typed config for a run: validated once at the entry point, saved resolved in the run folder."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gan_aug.hashing import json_sha256


class ConfigError(ValueError):
    """A config that cannot run; the message names the file and the setting to change."""


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored default.
    model_config = ConfigDict(extra="forbid")


class LongTailConfig(_Section):
    """Subsample a balanced set into a long-tailed one (for experiments and the demo)."""

    profile: Literal["exponential", "step"] = "exponential"
    imbalance_ratio: float = Field(20.0, ge=1.0, description="largest class count / smallest")
    step_minority_classes: int = Field(5, ge=1, description="step profile: how many classes are rare")
    seed: int = 0


class DataConfig(_Section):
    source: str = Field(
        "digits",
        description="a built-in set (digits, fashion-mnist, fashion-mnist-test) or a path: image folder "
        "root/<class>/*.png, .parquet file or folder, .csv manifest (path,label), .npz (x, y), IDX file",
    )
    format: Literal["auto", "builtin", "folder", "parquet", "csv", "npz", "idx"] = Field(
        "auto", description="how to read data.source; auto detects it from the path"
    )
    label_column: str = Field("label", description="Parquet/CSV column holding each row's class")
    image_column: str | None = Field(None, description="Parquet/CSV image column; default: detected")
    image_size: int | None = Field(
        None, ge=4, le=1024, description="resize every image to S×S; unset keeps sizes, which must then match"
    )
    channels: Literal[1, 3] | None = Field(None, description="1 (grayscale) or 3 (RGB); unset: from the data")
    min_images_per_class: int = Field(5, ge=1, description="classes with fewer images follow small_class_policy")
    small_class_policy: Literal["error", "skip"] = Field("error", description="stop, or drop the class with a warning")
    skip_unreadable: bool = Field(
        False, description="skip corrupt image files (counted in metrics) instead of stopping"
    )
    cache: bool = Field(True, description="keep decoded folders/Parquet as a memory-mapped array keyed by content hash")
    cache_dir: str | None = Field(None, description="default: $XDG_CACHE_HOME/gan-aug or ~/.cache/gan-aug")
    workers: int = Field(0, ge=0, description="decoding threads; 0 = one per CPU core")
    long_tail: LongTailConfig | None = Field(
        None, description="make train/val long-tailed (experiments on balanced sets); unset keeps the data as is"
    )
    val_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.25, gt=0.0, lt=0.5)
    split_seed: int = 0


def _registered_generator(name: str) -> str:
    """A generator registered in gan_aug.generators (a plug-in registers itself on import)."""
    from gan_aug.generators import generator_class  # imports the built-in GAN, hence torch: only here

    generator_class(name)
    return name


class GANConfig(_Section):
    """How the generator is trained: ``generator`` names its kind (the conditional GAN by default, or any
    registered plug-in); the strategy, budget (steps, time), device and seed apply to every kind, the
    network and loss settings to the GAN."""

    generator: Annotated[str, AfterValidator(_registered_generator)] = Field(
        "gan", description="the generator: gan (the conditional GAN these settings describe) or any generator "
        "registered with gan_aug.generators.register_generator",
    )
    z_dim: int = Field(64, ge=2)
    base_channels: int | None = Field(
        None, ge=8, description="network width (the widest layer is 4–8× it); unset: 16 for images up to 32 px, "
        "which trains 5× faster than 32 on a CPU at 28×28, and 32 above",
    )
    steps: int | None = Field(
        None, ge=1, description="training steps; unset: 20,000 on CUDA, and on a CPU as many as "
        "gan.time_budget_s allows",
    )
    time_budget_s: float | None = Field(
        None, ge=0, description="stop training after this many seconds (FD checks included); unset: none on "
        "CUDA, and on a CPU 0.05 s per training image at 28×28 (scaled by pixels), within 30 s – 30 min; 0: no "
        "time limit. A time budget makes the step count depend on the machine: set gan.steps and 0 here for "
        "runs that must repeat exactly elsewhere",
    )
    batch_size: int = Field(64, ge=2)
    lr_g: float = Field(2e-4, gt=0)
    lr_d: float = Field(2e-4, gt=0)
    ema_decay: float = Field(0.999, ge=0.0, lt=1.0)
    class_sampling: Literal["uniform", "sqrt", "balanced"] = Field(
        "balanced", description="how real batches weight classes: as found, by sqrt of count, or equally"
    )
    strategy: Literal["shared", "per_class"] = Field(
        "shared",
        description="one conditional GAN over all classes (majority classes teach the rare ones), or one GAN "
        "per minority class, each its own task (parallel on several workers or GPUs)",
    )
    diffaugment: Literal["auto", "off"] | list[Literal["translation", "cutout", "color"]] = Field(
        "auto", description="differentiable augmentation of everything D sees; auto: translation and cutout, "
        "plus colour for RGB",
    )
    augment_p: float | None = Field(
        None, ge=0.0, le=1.0, description="share of images augmented; unset: adaptive (ADA heuristic), raised only "
        "while the discriminator overfits, so short runs on plentiful data are not slowed",
    )
    regularization: Literal["none", "lecam", "r1"] = Field(
        "lecam", description="discriminator regulariser for small data: LeCam (Tseng et al. 2021) or R1 penalty"
    )
    lecam_weight: float = Field(0.3, ge=0)
    r1_gamma: float = Field(1.0, ge=0)
    eval_every: int = Field(
        250, ge=0, description="every N steps, check each class the EMA generator makes: FD on held-out images, "
        "and how many of its samples the domain classifier recognises; 0 = off",
    )
    eval_samples: int = Field(256, ge=2, description="generated images per class for each check")
    early_stop_patience: int = Field(
        4, ge=0, description="stop after this many checks in which no class improved its FD or its recognition; "
        "0 = never",
    )
    early_stop_min_delta: float = Field(0.01, ge=0, description="relative FD drop that counts as improving")
    gsr_weight: float = Field(
        0.0, ge=0, description="group spectral regularisation (Rangwani et al. 2022) of the generator's per-class "
        "batch-norm parameters, against mode collapse in tail classes; 0 = off",
    )
    classifier_weight: float = Field(
        0.0, ge=0, description="an auxiliary loss for the generator: this weight times the cross-entropy of the "
        "domain classifier (trained class-balanced on the real training split, frozen) on its images against "
        "their labels, pulling each class's samples toward what real images of the class look like to the label "
        "filter (the classifier every run trains for its filters); 0 = off",
    )
    checkpoint_every: int = Field(500, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    processes: int | Literal["auto"] = Field(
        1, description="processes that train the shared GAN together, data-parallel (torch.distributed): each "
        "takes gan.batch_size / processes rows of every batch (so the batch must divide by it) and, on CUDA, "
        "one GPU; auto: one per visible GPU, 1 on a CPU. Under torchrun its world is used instead",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on CUDA and on CPUs with native bf16 (AVX512-BF16, AMX), else fp32"
    )
    channels_last: bool = Field(True, description="channels-last memory layout (faster convolutions on CUDA and CPU)")
    compile: bool = Field(False, description="torch.compile the networks (CUDA; slower start, faster steps)")
    seed: int = 0

    def identity_json(self) -> str:
        """The settings that make one GAN another, as JSON: all but GAN_EXECUTION_KEYS (a GAN trained by 2
        processes is reused by 1). What checkpoint hashes are built from."""
        return self.model_dump_json(exclude=set(GAN_EXECUTION_KEYS))

    @field_validator("processes")
    @classmethod
    def _at_least_one_process(cls, value: int | str) -> int | str:
        if value != "auto" and value < 1:
            raise ValueError(f"gan.processes must be at least 1 or 'auto', got {value}")
        return value

    @model_validator(mode="after")
    def _batch_splits_over_processes(self) -> "GANConfig":
        """A batch each process takes an equal share of; 'auto' is checked once the device count is known."""
        if isinstance(self.processes, int) and self.batch_size % self.processes:
            raise ValueError(f"gan.batch_size ({self.batch_size}) must divide by gan.processes ({self.processes}): "
                             "each process takes an equal share of every batch")
        return self


class GenerateConfig(_Section):
    target_count: int | None = Field(
        None, ge=1, description="rows per class after balancing; default: the largest class's count"
    )
    batch_size: int = Field(256, ge=1)
    budget_factor: float = Field(
        20.0, ge=1.0, description="at most this many generated samples per sample needed (the filters reject some)"
    )
    give_up_share: float = Field(
        0.1, ge=0.0, le=1.0, description="stop generating a class once, after 4 batches, even the 95% upper bound of "
        "its acceptance rate would fill less than this share of the rows it still needs within the budget (the "
        "reason is logged and recorded); 0: always spend the whole budget",
    )
    seed: int = 1


class FilterConfig(_Section):
    filters: list[str] = Field(
        ["discriminator", "label", "memorisation"],
        description="per-sample filters, applied in this order during generation (rejections are made up for); "
        "any registered filter (gan_aug.filters.registry): discriminator, label, memorisation",
    )
    d_quantile: float = Field(
        0.05, ge=0.0, lt=1.0,
        description="discriminator filter: keep a sample only if D scores it at least this quantile of D's scores "
        "on the class's real held-out images",
    )
    d_own_cap: bool = Field(
        False, description="discriminator filter, a class with fewer than 5 held-out images: lower the threshold "
        "pooled over every class's held-out images to the quantile of the class's own when they score lower (a D "
        "that overfits a class's few training images scores its unseen real images below the pooled threshold)",
    )
    label_threshold: float = Field(
        0.9, ge=0.0, le=1.0,
        description="label consistency: the domain classifier (trained class-balanced: oversampled rows with "
        "shifts) must give the intended class at least this probability (M2m keeps samples at 0.9)",
    )
    label_quantile: float | None = Field(
        None, ge=0.0, lt=1.0,
        description="label consistency, calibrated per class: lower the class's threshold to this quantile of the "
        "domain classifier's probability for the class on its real held-out images (with fewer than 5, its "
        "training images too), so a hard class is asked no more than its real images give; unset: "
        "label_threshold for every class",
    )
    memorisation_quantile: float = Field(
        0.05, ge=0.0, lt=1.0,
        description="memorisation: reject a sample closer to a real training image than this quantile of the "
        "class's real-to-real nearest-neighbour distances",
    )
    fd_max_ratio: float = Field(
        4.0, gt=0.0, description="FD acceptance: flag a class whose matched FD exceeds this multiple of its floor"
    )
    fd_policy: Literal["warn", "drop", "fail"] = Field(
        "warn",
        description="for a flagged class: keep its rows with a warning, drop its synthetic rows, or fail the run",
    )
    fd_min_real: int = Field(10, ge=4, description="classes with fewer real training images are not FD-judged")
    extractor: Literal["domain", "inception"] = Field(
        "domain", description="features for FD/KID/precision/recall: the domain classifier's embedding, or "
        "pytorch-fid's InceptionV3 (only from local weights, never downloaded)",
    )
    inception_weights: str | None = Field(
        None, description="local pt_inception-2015-12-05-6726825d.pth; unset: the torch hub cache"
    )
    feature_steps: int = Field(600, ge=1, description="training steps of the domain feature extractor")
    bootstrap_rounds: int = Field(50, ge=2, description="resamples for each class's FD and KID intervals")

    @field_validator("filters")
    @classmethod
    def _registered(cls, names: list[str]) -> list[str]:
        """Each name a registered filter (a plug-in registers itself on import), each once."""
        from gan_aug.filters.registry import filter_spec  # imports the built-in filters, hence torch: only here

        for name in names:
            filter_spec(name)
        if len(set(names)) != len(names):
            raise ValueError(f"each filter may appear once; got {names}")
        return names


class MixConfig(_Section):
    """How many synthetic rows each class ships with, and with what weight; the rest of the way to its
    target is filled by duplicating real rows (flagged), so the training split is balanced to the row."""

    policy: Literal["validation", "fixed"] = Field(
        "validation", description="validation: try the grid mix.doses × mix.weights (and no synthetic rows) with "
        "the evaluation classifier on the validation split; points whose gain over duplication is not above zero "
        "at mix.confidence cannot ship, and among the rest the one with the fewest synthetic rows within one "
        "standard error of the best is kept; fixed: mix.dose and mix.weight as set",
    )
    confidence: float = Field(
        0.95, gt=0.5, lt=1.0, description="policy validation: a grid point ships synthetic rows only when the lower "
        "bound of its paired validation gain over duplication is above zero at this one-sided confidence, "
        "Bonferroni-corrected for the grid's points with synthetic rows (the best of several noisy points is "
        "luckier than any one)",
    )
    doses: list[float] = Field(
        [0.5, 1.0, 2.0], min_length=1, description="the validation grid's doses: synthetic rows per real image of "
        "a class, at most (a class never gets more than it needs to reach its target); 0 is always tried",
    )
    weights: list[float] = Field([1.0, 0.5], min_length=1, description="the validation grid's loss weights of "
                                 "synthetic rows (real and duplicated rows weigh 1)")
    dose: float = Field(1.0, ge=0, description="policy fixed: synthetic rows per real image of a class, at most")
    weight: float = Field(1.0, ge=0, description="policy fixed: the loss weight of synthetic rows")
    defer: float = Field(0.0, ge=0, lt=1, description="draw synthetic rows only after this share of training "
                         "(recorded in the manifest; the evaluation follows it); 0: from the start")
    min_agreement: float = Field(
        0.7, ge=0, le=1, description="a class whose accepted rows a classifier trained class-balanced on the real "
        "rows recognises less often than this gets no synthetic rows",
    )
    seeds: int = Field(2, ge=1, le=20, description="classifier runs per grid point on validation")
    halving: bool = Field(
        True, description="policy validation: successive halving: every grid point trains on one seed first; "
        "only duplication and the better half of the points that scored at least as well as it go on to the "
        "other mix.seeds (the rest stop there and cannot ship); false: every point on every seed",
    )
    steps: int | None = Field(None, ge=1, description="classifier steps per grid run; unset: evaluate.steps")
    bootstrap_rounds: int = Field(1000, ge=2, description="resamples of the validation images for the standard "
                                  "error of each point's difference from the best")
    cas_samples: int | None = Field(
        None, ge=0, description="per class, unfiltered samples for the Classification Accuracy Score (a classifier "
        "trained on samples only; needs gan.strategy shared); unset: the largest class's count, at most 1,000; 0: off",
    )
    headroom: list[float] = Field(
        [0.25, 0.5], description="policy validation: the real rows' learning curve, with each minority class's real "
        "training rows cut to these fractions (mix.seeds classifier runs each, beside the grid's 'no synthetic rows' "
        "point): whether more real rare images could help, and what the synthetic rows are worth in real ones; "
        "[]: off",
    )
    seed: int = Field(0, description="which real rows are duplicated")

    @field_validator("doses", "weights")
    @classmethod
    def _not_negative(cls, values: list[float]) -> list[float]:
        if any(v < 0 for v in values):
            raise ValueError(f"must be >= 0, got {values}")
        return values

    @field_validator("headroom")
    @classmethod
    def _fractions(cls, values: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in values):
            raise ValueError(f"fractions of the real rows must be between 0 and 1 (exclusive), got {values}")
        return sorted(set(values))


class ShardConfig(_Section):
    shard_size_mb: float = Field(256.0, gt=0, description="about this many MB per Parquet file")
    row_group_mb: float = Field(
        16.0, gt=0, description="about this many MB per row group: the unit a streaming reader fetches"
    )
    rows_per_shard: int | None = Field(None, ge=1, description="exact rows per file instead of shard_size_mb")
    image_folder: bool = Field(
        True, description="also write DIR/images/<split>/<class>/*.png (torchvision ImageFolder)"
    )
    workers: int = Field(0, ge=0, description="PNG-encoding processes; 0 = one per CPU core")


def _method_registry() -> dict:
    """The evaluation methods registered so far; imported late, as gan_aug.evaluate imports this module."""
    from gan_aug.evaluate.methods import METHOD_REGISTRY

    return METHOD_REGISTRY


def _registered_method(name: str) -> str:
    if name not in _method_registry():
        raise ValueError(f"unknown evaluation method {name!r}; registered: {', '.join(_method_registry())}")
    return name


class EvaluateConfig(_Section):
    """The downstream comparison: one classifier, one budget, several seeds, every method."""

    model: Literal["small_cnn", "resnet18"] = Field(
        "small_cnn", description="downstream classifier: a small CNN, or torchvision's ResNet-18 with a small-image "
        "stem (3×3, stride 1, no max-pool; slow without a GPU)",
    )
    width: int = Field(32, ge=4, description="small_cnn: channels of its first conv layers")
    methods: list[Annotated[str, AfterValidator(_registered_method)]] = Field(
        default_factory=lambda: list(_method_registry()), min_length=1,
        description="names in gan_aug.evaluate's method registry; default: all of them (plain, class-weighted loss, "
        "random oversampling, SMOTE on pixels, oversampling with shifts/flips, and the GAN's mix)",
    )
    seeds: int = Field(3, ge=1, le=50, description="runs per method (seeds seed, seed+1, ...): means and 95% "
                       "intervals over them; 1 gives no interval")
    steps: int | None = Field(
        None, ge=1, description="training steps per run, the same for every method; unset: about 40 passes over "
        "the real training rows (150 to 3,000 steps)",
    )
    patience: int = Field(
        4, ge=0, description="stop a run once its validation balanced accuracy has not improved for this many "
        "checks and keep its best weights (steps is then the cap; the steps used are recorded); 0: train for "
        "exactly steps. Runs without a validation split train for steps",
    )
    check_every: int | None = Field(
        None, ge=1, description="steps between validation checks; unset: a twentieth of the steps (at least 25)"
    )
    batch_size: int = Field(256, ge=2)
    lr: float = Field(3e-3, gt=0, description="peak learning rate")
    schedule: Literal["onecycle", "constant"] = Field(
        "onecycle", description="learning rate: warm up and anneal (onecycle), or constant"
    )
    shift: float = Field(0.125, ge=0.0, lt=0.5, description="standard_aug: largest shift, as a fraction of the size")
    flip: bool = Field(
        False, description="standard_aug: also flip half the images left-right (off by default: flips change "
        "digits and letters; turn on for natural images, clothes, most scans)",
    )
    workers: int = Field(0, ge=0, description="classifier runs trained side by side in processes of one thread "
                         "each (0: one per CPU core; 1: one after another in this process; CUDA: always 1)")
    seed: int = 0


class RunnerConfig(_Section):
    """Where the per-class tasks (per-class GAN training, generation and filtering) and the classifier runs
    of the mix grid and the evaluation run, and how a rerun reuses finished stages."""

    kind: Literal["threads", "dask", "ray"] = Field(
        "threads",
        description="threads in the flow's process; a Dask cluster (prefect-dask); a Ray cluster (prefect-ray)",
    )
    address: str | None = Field(
        None, description="an existing Dask scheduler (tcp://host:8786) or Ray cluster (ray://host:10001); unset: "
        "start a local one with max_workers workers (the run folder must be on storage every worker can read)",
    )
    classifier_runs: Literal["cluster", "local"] | None = Field(
        None, description="where the mix grid's and the evaluation's classifier runs go: 'cluster', the Dask or Ray "
        "cluster the per-class tasks use (as tasks of its workers), or 'local', processes of the flow's machine "
        "(evaluate.workers); unset: the cluster when runner.kind is dask or ray. Runs on CUDA stay local",
    )
    cache: bool = Field(
        True, description="reuse finished stages (split, generation, acceptance, evaluation) when their config "
        "sections and input files are unchanged; keys are content hashes kept in the run folder's .cache/",
    )
    retries: int = Field(
        2, ge=0, description="retries of a stage that failed transiently (I/O error, timeout, lost connection)"
    )
    retry_delay_s: float = Field(5.0, ge=0, description="wait before each retry")

    @model_validator(mode="after")
    def _cluster_runs_need_a_cluster(self) -> "RunnerConfig":
        if self.classifier_runs == "cluster" and self.kind == "threads":
            raise ValueError("runner.classifier_runs 'cluster' needs runner.kind 'dask' or 'ray': 'threads' has no "
                             "cluster (set runner.kind, or leave runner.classifier_runs unset)")
        return self


def check_generator_scores(filters: FilterConfig, gan: GANConfig) -> None:
    """Raise naming the filter and the generator when ``gan.generator`` cannot give a score a filter needs."""
    from gan_aug.filters.registry import check_needs
    from gan_aug.generators import generator_class

    check_needs(filters.filters, gan.generator, generator_class(gan.generator).scores)


# Where and how a run executes, not what it computes: a resumed run may use other workers.
EXECUTION_KEYS = ("runner", "max_workers")
# The same, inside the GAN section: a checkpoint of 2 processes is resumed or reused by 1 and by 4.
GAN_EXECUTION_KEYS = ("processes",)


class AugmentConfig(_Section):
    """Everything a run needs. Defaults suit a user's own data; ``demo_config()`` is the embedded demo."""

    name: str = "demo"
    data: DataConfig = Field(default_factory=DataConfig)
    gan: GANConfig = Field(default_factory=GANConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    mix: MixConfig = Field(default_factory=MixConfig)
    shards: ShardConfig = Field(default_factory=ShardConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    max_workers: int = Field(2, ge=1, description="concurrent per-class tasks (threads, or local Dask/Ray workers); "
                             "GPU tasks also take one GPU each at a time")

    @model_validator(mode="after")
    def _splits_leave_training_data(self) -> "AugmentConfig":
        if self.data.val_fraction + self.data.test_fraction >= 0.8:
            raise ValueError("data.val_fraction + data.test_fraction must leave at least 20% for training")
        return self

    @model_validator(mode="after")
    def _filters_get_their_scores(self) -> "AugmentConfig":
        """A filter needing a per-sample score the generator cannot give is refused here, before any work."""
        check_generator_scores(self.filter, self.gan)
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def results_hash(self) -> str:
        """Hash of every setting that shapes the results: all but where and how the run executes."""
        return self.section_hash(*(name for name in type(self).model_fields if name not in EXECUTION_KEYS))

    def section_hash(self, *sections: str) -> str:
        """Content hash of some sections (all when none named), so a checkpoint knows which settings made it."""
        dumped = self.model_dump(mode="json", exclude={"gan": set(GAN_EXECUTION_KEYS)})
        payload = {name: dumped[name] for name in sections or dumped}
        return json_sha256(payload)


def demo_config() -> AugmentConfig:
    """The embedded default: scikit-learn's digits made long-tailed (exponential, ratio 20), every
    other setting at its default except
    - the GAN's budget: 500 steps and no time budget, so every machine trains the same GAN and makes the
      same choice (a time budget gives each machine its own step count), at learning rate 1e-3 for both
      networks (2e-4 is for long runs: at 8×8 it makes digits a classifier can learn from, CAS about
      0.8, in 500 steps instead of the 0.15 that 2e-4 reaches in 1,000);
    - the mix's validation grid, cut to doses 0.5 and 1 at weight 1 (three points with "no synthetic
      rows", not seven),
    so that the first run ends within two minutes on two cores and still shows the policy choosing."""
    return AugmentConfig(data=DataConfig(source="digits", long_tail=LongTailConfig()),
                         gan=GANConfig(steps=500, time_budget_s=0, lr_g=1e-3, lr_d=1e-3),
                         mix=MixConfig(doses=[0.5, 1.0], weights=[1.0]))


def _format_errors(error: ValidationError, origin: str) -> str:
    lines = [f"{origin}: invalid config"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def parse_config(raw: dict | None, origin: str = "config") -> AugmentConfig:
    try:
        return AugmentConfig.model_validate(raw or {})
    except ValidationError as error:
        raise ConfigError(_format_errors(error, origin)) from None


def load_config(path: str | Path) -> AugmentConfig:
    """Read and validate a YAML config; errors name the file and each bad setting."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings, got {type(raw).__name__}")
    return parse_config(raw, origin=str(path))
