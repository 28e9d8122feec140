"""Typed experiment configuration: defaults -> YAML -> CLI flags, unknown keys rejected.

Every section is a pydantic model with `extra="forbid"`, so a typo in a YAML key is an error,
not a silently ignored setting. Each key says what it does in its `Field(description=...)`:
docs/config.md is generated from them (`make config-docs`), and a unit test fails when it is
stale or a key has none.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hpo.errors import ConfigError
from judge.backends import BackendSettings


class _Strict(BaseModel):
    # NaN and infinity are refused wherever a number is read (`.inf` passes `gt=0`).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class TinyModelConfig(_Strict):
    """The embedded CPU default: a small LLaMA built from a config with a locally trained tokenizer."""

    hidden_size: int = Field(128, gt=0, description=(
        "width of the hidden state (the MLP is 8/3 of it, as in LLaMA)"))
    num_layers: int = Field(4, gt=0, description="transformer layers")
    num_heads: int = Field(4, gt=0, description="attention heads per layer (as many key/value heads)")
    vocab_size: int = Field(330, ge=64, description=(
        "target size of the BPE tokenizer trained on the training examples; the embedding "
        "takes the size the trained tokenizer reaches"))


class LoraConfig(_Strict):
    """LoRA adapters (peft) trained on a frozen base instead of full fine-tuning."""

    rank: int = Field(8, gt=0, description=(
        "adapter rank r; a search space's `lora_rank` overrides it per training"))
    alpha: int = Field(16, gt=0, description="LoRA alpha: the update is scaled by alpha / rank")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the adapters' input")
    target_modules: list[str] | None = Field(None, description=(
        "module names that get adapters; null = the architecture's attention projections "
        "(hpo.models.lora.DEFAULT_TARGETS); [\"all-linear\"] = every linear layer but the output "
        "head (peft's shorthand)"))


class ModelConfig(_Strict):
    name: str = Field("tiny", description=(
        "the base model: a hub alias (bloom-7b, llama-7b, ...; its preset fills in the other "
        "sections), \"tiny\" (built here, see model.tiny), \"smollm2-135m\", or a local folder"))
    trust_remote_code: bool = Field(False, description=(
        "let transformers run the model repository's own code when it loads the tokenizer and model"))
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = Field("float32", description=(
        "dtype the base weights are loaded in (auto = the checkpoint's own); bfloat16 or "
        "float16 with full fine-tuning needs train.precision: bf16-mixed"))
    tiny: TinyModelConfig = Field(TinyModelConfig(), description=(
        "shape of the tiny LLaMA, used when name is tiny"))
    lora: LoraConfig | None = Field(None, description="LoRA adapters; null = full fine-tuning")


class SyntheticConfig(_Strict):
    """The synthetic instruction suite: short tasks whose answers can be checked, drawn from a seed."""

    n_train: int = Field(2000, gt=0, description="training examples drawn")
    n_validation: int = Field(100, gt=0, description=(
        "validation examples drawn: distinct, and none with a training example's instruction and input"))
    tasks: list[str] = Field(["reverse", "uppercase", "add", "sort", "count"], description=(
        "task families, drawn in turn: reverse, uppercase, add, sort, count (one exact answer), "
        "any_order, any_letter, any_number (several right answers)"))
    seed: int = Field(0, description="seed of the drawn examples (the same seed, the same suite)")


class DataConfig(_Strict):
    """Where the training and validation examples come from."""

    train: str = Field("synthetic", description=(
        "training examples: synthetic, a .json/.jsonl file (the working directory's, else the "
        "package's), or hf:<dataset>[:split]"))
    validation: str = Field("synthetic", description=(
        "validation examples, in the same forms: the instructions every candidate answers "
        "for the judge, and the validation loss"))
    synthetic: SyntheticConfig = Field(SyntheticConfig(), description=(
        "the synthetic suite, used where train or validation is synthetic"))
    max_train_examples: int | None = Field(None, gt=0, description=(
        "keep the first N training examples; null = all"))
    max_validation_examples: int | None = Field(None, gt=0, description=(
        "keep the first N validation examples; null = all"))


class TrainConfig(_Strict):
    """How each training runs; the search space sets its learning rate, optimizer and schedule."""

    batch_size: int = Field(8, gt=0, description="examples per micro-batch on each worker")
    max_length: int = Field(64, gt=8, description=(
        "tokens per example (prompt + response + EOS) in training and validation loss; longer "
        "ones are cut, the prompt from the left first"))
    max_new_tokens: int = Field(16, gt=0, description=(
        "most tokens generated per validation answer (the answers the judge compares)"))
    generation_batch_size: int = Field(100, gt=0, description=(
        "validation prompts per generation batch when a checkpoint writes its answers"))
    seed: int = Field(0, description=(
        "seed of the base model's initialisation (tiny), the batch order and dropout"))
    threads_per_trial: int = Field(1, gt=0, description=(
        "torch CPU threads in each trial process (torch.set_num_threads)"))
    lr_multiplier: float | None = Field(None, gt=0, description=(
        "scales every learning rate of the search space; null = auto: x50 for tiny (a "
        "from-scratch 0.9M model needs larger rates than the paper's 7B ones), x1 for every real model"))
    sgd_momentum: float = Field(0.9, ge=0, lt=1, description="momentum of the SGD optimizer")
    weight_decay: float = Field(0.0, ge=0, description="weight decay of AdamW and SGD")
    keep_weights: Literal["none", "best", "all"] = Field("none", description=(
        "checkpoint weights kept on disk: none = answers only; best = each checkpoint's until it "
        "is eliminated, then the winner's; all = every checkpoint's"))
    val_loss_tokens: int | None = Field(None, gt=0, description=(
        "validation loss: padded tokens per forward pass (rows packed up to it), bounding the "
        "logits (tokens x vocab x 10 bytes); null = one training micro-batch, batch_size x max_length"))
    deepspeed: str | None = Field(None, description=(
        "a DeepSpeed JSON config (ZeRO-2 across the trial's workers), looked for next to the "
        "experiment file, then in the working directory, then in the package (hpo/assets/, e.g. "
        "configs/deepspeed/zero2.json); null = plain PyTorch (DDP with several workers)"))
    gradient_accumulation_steps: int = Field(1, gt=0, description=(
        "micro-batches per optimizer step; effective batch = batch_size x this x workers_per_trial"))
    gradient_checkpointing: bool = Field(False, description=(
        "recompute activations in the backward pass instead of keeping them: less memory, more compute"))
    log_every_steps: int = Field(10, ge=0, description=(
        "optimizer steps between progress reports (loss, lr, tokens/s, ETA) to events.jsonl, "
        "MLflow (train/* step metrics) and the terminal; rank 0 writes, the last step of an "
        "epoch always reports; 0 = off (no step reports, so no step or system metrics)"))
    precision: Literal["fp32", "bf16-mixed"] = Field("fp32", description=(
        "bf16-mixed: fp32 master weights, bf16 compute (DeepSpeed bf16, else torch.autocast)"))
    fault_injection: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]+:[0-9]+:(once|always)$",
                                        description=(
        "tests only: \"<training_id>:<epoch>:once|always\" raises mid-epoch in that training"))


class HalvingConfig(_Strict):
    """Synchronous successive halving over the grid's trainings (docs/adaptive.md)."""

    rungs: list[int] = Field([1, 2, 3], min_length=1, description=(
        "epochs at which the live trainings are compared and the worse stop; strictly "
        "increasing, each a checkpoint epoch before the trainings' last"))
    eta: int = Field(2, gt=1, description="each rung keeps the best ceil(live / eta) trainings")
    rank_by: Literal["judge", "val_loss"] = Field("judge", description=(
        "judge: a round robin of the rung's checkpoints (both orders, judge.policy, the run's "
        "verdict store), ranked by Bradley-Terry; val_loss: their validation loss, no judge calls"))
    items: int | None = Field(None, gt=0, description=(
        "validation items per rung match (a seeded sample, the same for every match); "
        "null = all of them"))

    @field_validator("rungs")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        if v[0] < 1 or any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError(f"rungs {v} must be epochs >= 1, strictly increasing")
        return v


class SearchConfig(_Strict):
    """The search space and the method that walks it (docs/adaptive.md)."""

    space: str = Field("search_spaces/pandalm80.yaml", description=(
        "the search space file: a grid for search: grid, an Optuna space for search: optuna; "
        "looked for in the working directory, then in the package (hpo/assets/)"))
    baseline: str | None = Field("search_spaces/alpaca-default.yaml", description=(
        "a fixed training (the Alpaca default) the winner is matched against (the report, "
        "--fail-if-worse-than-baseline); asha and optuna rank trials by their win rate against "
        "it; null = none"))
    search: Literal["grid", "optuna"] = Field("grid", description=(
        "grid: every training of the space; optuna: a seeded TPE sampler proposes num_samples "
        "trainings, each judged against the baseline after every epoch"))
    scheduler: Literal["none", "asha", "halving"] = Field("none", description=(
        "none: every training runs to the end; asha: Ray's async successive halving on the "
        "win rate against the baseline; halving: synchronous rounds decided by judged rung "
        "tournaments (or validation loss), see `halving`"))
    halving: HalvingConfig = Field(default_factory=HalvingConfig, description=(
        "settings of `scheduler: halving`"))
    num_samples: int = Field(16, gt=0, description="optuna: trainings to sample (the trial budget)")
    max_concurrent: int = Field(2, gt=0, description=(
        "trainings run at once (Ray Tune's max_concurrent_trials)"))
    grace_period: int = Field(1, gt=0, description="asha: epochs before a trial may be stopped")
    reduction_factor: int = Field(2, gt=1, description=(
        "asha: rungs at grace_period x reduction_factor^k epochs, each keeping the best "
        "1 / reduction_factor"))

    @property
    def adaptive(self) -> bool:
        """A searcher or scheduler steers training (the judge is in the loop), not a fixed grid."""
        return self.search != "grid" or self.scheduler != "none"

    @property
    def needs_anchor(self) -> bool:
        """The search measures trials against the baseline (ASHA, Optuna); halving does not."""
        return self.adaptive and self.scheduler != "halving"

    @model_validator(mode="after")
    def _halving_over_a_grid(self) -> SearchConfig:
        if self.scheduler == "halving" and self.search != "grid":
            raise ValueError("scheduler 'halving' runs over the grid's trainings: use search 'grid'")
        return self


class ResourcesConfig(_Strict):
    """What each trial gets from Ray, and the cluster it runs on (docs/cluster.md)."""

    cpus_per_trial: float = Field(1, gt=0, description=(
        "CPUs Ray reserves for one trial in all, split evenly over its workers"))
    gpus_per_trial: float = Field(0, ge=0, description=(
        "GPUs Ray reserves for a trial of one worker; with N workers use use_gpu (1 GPU each)"))
    workers_per_trial: int = Field(1, gt=0, description=(
        "N > 1: the trial drives a Ray Train group of N workers (DDP, or ZeRO-2 with "
        "train.deepspeed); grid search only"))
    use_gpu: bool = Field(False, description=(
        "one GPU per worker (and Ray sets CUDA_VISIBLE_DEVICES)"))
    address: str | None = Field(None, description=(
        "join the Ray cluster at this GCS address (HOST:6379, or auto); Ray Client (ray://) "
        "and dashboard (http://) addresses are refused; null = a private Ray on this machine"))
    max_failures: int = Field(1, ge=0, description="Ray Tune retries of a failed trial")
    gpus_per_node: int | None = Field(None, ge=0, description=(
        "GPUs on one node: --dry-run checks that the judge's and the concurrent trials' GPUs "
        "fit on it, and its `ray start` lines pass it as --num-gpus"))
    gpu_memory_gb: float = Field(80, gt=0, description=(
        "memory of one GPU in GB; `--dry-run` checks each trial rank's modelled peak against it "
        "less a 10% headroom and says DOES NOT FIT when it exceeds that"))


class RunStorageConfig(_Strict):
    """Where a run's trials live on a cluster (docs/cluster.md)."""

    storage: str | None = Field(None, description=(
        "a pyarrow filesystem URI (local path, NFS mount, s3://, gs://) that every node can "
        "read, given to Ray Tune as its storage_path; null = <run folder>/ray; no credentials "
        "in it (s3 keys go in the environment of every node)"))
    transport: Literal["auto", "disk", "ray"] = Field("auto", description=(
        "how trials get their inputs and return their outputs: disk reads and writes the run "
        "folder (one node, or a shared filesystem at the same path); ray sends data, base model "
        "and answers through Ray, so a trial needs nothing from the driver's disk; auto = ray "
        "when resources.address joins a cluster, else disk"))

    @field_validator("storage")
    @classmethod
    def _no_credentials(cls, v: str | None) -> str | None:
        """Ray Tune writes its storage URI into its experiment state, so keys never ride in it."""
        from hpo.config.secrets import has_credentials

        if v and has_credentials(v):
            raise ValueError("holds a credential, which Ray Tune would write into its state; give s3 keys"
                             " in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) on every node")
        return v


class JudgeServeConfig(_Strict):
    """The judge server as a Ray actor holding its own GPUs (`hpo serve-judge --ray`), so the
    plan counts them and Ray never gives them to a trial (docs/cluster.md)."""

    gpus: float = Field(1, ge=0, description=(
        "GPUs the judge's Ray actor holds (at least its tensor parallel size)"))
    tensor_parallel_size: int | None = Field(None, gt=0, description=(
        "vLLM's tensor parallel size (`serve-judge --tensor-parallel-size`); null = vLLM's default"))
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description=(
        "share of each GPU's memory vLLM may take; null = vLLM's default"))
    port: int = Field(8000, gt=0, lt=65536, description="the port the judge server listens on")
    python: str = Field(".venv-judge/bin/python", description=(
        "the Python of the venv where vLLM is installed (`serve-judge --python`); vLLM pins its "
        "own torch and transformers, so it is not in hpo's venv"))


class JudgeConfig(_Strict):
    """The run's judge. Beside the shared keys below, a `judge:` section holds the options of
    the chosen backend, checked against that backend's settings model (judge/backends/, listed
    in `judge.registry`): one it does not take is an error naming it, the backend and the valid
    names. In the written and stored layout they sit flat beside `backend`. A layer (preset,
    YAML, flags) that names another backend than the layers below it drops their options the
    new backend does not take: `--judge hf` over a vllm preset keeps its `model`, not its `url`."""

    backend: str = Field("reference", description=(
        "the judge backend (judge.registry): reference (oracle), hf (in-process), vllm (a server)"))
    policy: Literal["strict", "lenient", "soft"] = Field("strict", description=(
        "how a comparison's two orders combine into one outcome (docs/judge.md)"))
    tie_band: float = Field(0.0, ge=0, lt=1, description=(
        "logprobs and soft: |P(1) - P(2)| <= band is a Tie (shared by the backend and the policy)"))
    invalid_retries: int = Field(1, ge=0, description="retries of a comparison the judge answered invalidly")
    serve: JudgeServeConfig | None = Field(None, description=(
        "the judge server as a Ray actor: its GPUs inside Ray's accounting"))
    settings: SerializeAsAny[BackendSettings] = Field(default_factory=lambda: _backend_settings("reference", {}),
                                                      description=(
        "the chosen backend's own options, written flat beside `backend` (not under this key)"),
        json_schema_extra={"flat_beside": "backend"})

    @model_validator(mode="before")
    @classmethod
    def _own_options(cls, data: Any) -> Any:
        """Keys that are not shared are the backend's options: gathered as its settings."""
        if not isinstance(data, dict) or isinstance(data.get("settings"), BackendSettings):
            return data
        shared = {k: v for k, v in data.items() if k in SHARED_JUDGE_KEYS}
        return {**shared, "settings": {k: v for k, v in data.items() if k not in SHARED_JUDGE_KEYS}}

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        from judge.registry import BACKENDS

        return BACKENDS.validate(v)

    @field_validator("settings", mode="plain")
    @classmethod
    def _backend_options(cls, v: Any, info: ValidationInfo) -> BackendSettings:
        backend = info.data.get("backend")
        if backend is None:  # refused above; nothing to check these options against
            return BackendSettings()
        if isinstance(v, BackendSettings):
            return _backend_settings(backend, v.model_dump())
        return _backend_settings(backend, v)

    @model_validator(mode="after")
    def _settings_of_backend(self) -> JudgeConfig:
        """The settings are the backend's own, also after an assignment (`with_options` changes
        the backend and its options together)."""
        from judge.registry import BACKENDS

        model = BACKENDS.settings_model(self.backend)
        if not isinstance(self.settings, model):
            raise ValueError(f"backend '{self.backend}' takes {model.__name__}, not "
                             f"{type(self.settings).__name__}; change both with with_options(backend=...)")
        return self

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The layout users write: the backend's options flat beside `backend`."""
        out = handler(self)
        return {"backend": out.pop("backend"), **out.pop("settings"), **out}

    @staticmethod
    def backend_options() -> dict[str, type[BackendSettings]]:
        """Each backend's settings model by name (for docs and `--help`; imports no torch)."""
        from judge.registry import BACKENDS

        return {name: BACKENDS.settings_model(name) for name in BACKENDS.names()}

    def option(self, name: str) -> Any:
        """The chosen backend's option `name`, or None when that backend does not take it."""
        return getattr(self.settings, name, None)

    def with_options(self, **changes: Any) -> JudgeConfig:
        """A copy with keys changed as a YAML layer would (a new `backend` drops the options
        it does not take), validated."""
        base = self.model_dump()
        if "backend" in changes:
            base = rebase_judge(base, changes["backend"])
        return JudgeConfig.model_validate({**base, **changes})


SHARED_JUDGE_KEYS = frozenset(JudgeConfig.model_fields) - {"settings"}


def _backend_settings(backend: str, options: Any) -> BackendSettings:
    """`options` validated as `backend`'s settings; an option it does not take is refused in
    one line that also lists the keys every backend shares."""
    from judge.registry import BACKENDS

    if not isinstance(options, dict):
        raise PydanticCustomError("judge_options", "expected a mapping of judge options")
    try:
        return BACKENDS.parse_settings(backend, options)
    except ConfigError as exc:
        shared = ", ".join(sorted(SHARED_JUDGE_KEYS))
        raise PydanticCustomError("judge_option", "{msg}; shared: {shared}",
                                  {"msg": str(exc), "shared": shared}) from None


def rebase_judge(lower: dict[str, Any], backend: Any) -> dict[str, Any]:
    """A lower layer's `judge:` section under a higher layer that names `backend`: when that
    is another backend, only the shared keys and the options the new backend also takes stay
    (a vllm preset's `url` is dropped under `--judge hf`, its `model` kept). Options given in
    the higher layer itself are checked against the new backend as usual."""
    if backend == lower.get("backend", "reference"):
        return lower
    return taken_options(lower, backend)


def taken_options(section: dict[str, Any], backend: Any) -> dict[str, Any]:
    """`section` (a `judge:` mapping) without the options `backend` does not take; as given
    when the backend is unknown (its own error comes from validation)."""
    from judge.registry import BACKENDS

    if backend not in BACKENDS.names():
        return section
    takes = set(BACKENDS.settings_model(backend).model_fields) | SHARED_JUDGE_KEYS
    return {k: v for k, v in section.items() if k in takes}


class TournamentConfig(_Strict):
    """The tournament that picks the winner among the candidates. `blocks`, `early_decision`,
    `pipeline` and `order` are options of the strategies (docs/tournament.md lists which takes
    which): setting one the chosen strategy does not take is an error naming the options it
    takes; a default it does not use is ignored. `seed` and `overlap` apply to every strategy."""

    # checked in hpo.run.experiment.check_strategy_options against the strategy's own options
    strategy_options: ClassVar[tuple[str, ...]] = ("blocks", "early_decision", "pipeline", "order")

    strategy: str = Field("blocked", description=(
        "the tournament strategy (docs/tournament.md): blocked, round_robin, knockout, playoff, "
        "halving, racing, val_loss, rucb, dts, beat_the_mean"))
    blocks: int = Field(4, gt=0, description=(
        "blocked and playoff: number of blocks (other strategies do not take it)"))
    seed: int = Field(0, description="the strategy's seed (shuffles, brackets, samples)")
    early_decision: bool = Field(True, description=(
        "stop a match once its winner is certain; every judged strategy except rucb, dts and "
        "beat_the_mean takes it"))
    pipeline: bool = Field(False, description=(
        "blocked: play the blocks (independent until the final) at once"))
    overlap: bool = Field(True, description="judge while other trials still train")
    order: Literal["auto", "shuffled", "training"] = Field("auto", description=(
        "blocked: order inside a block. 'shuffled' = the paper's random order; 'training' = "
        "block membership still shuffled, members met in the order they are trained, blocks "
        "played at once, so `keep_weights: best` prunes as training goes (bounded disk); "
        "auto = training under keep_weights: best, else shuffled"))


class TrackingConfig(_Strict):
    """Where the run is logged (docs/observability.md)."""

    backend: Literal["mlflow", "none"] = Field("mlflow", description=(
        "mlflow: parameters, metrics and artifacts to MLflow; none: no tracking"))
    uri: str | None = Field(None, description=(
        "MLflow tracking URI; null = sqlite:///<run_root>/mlflow.db"))
    experiment: str = Field("hpo", description="the MLflow experiment the run is logged under")
    register_winner: str | None = Field(None, description=(
        "register the winner's weights (LoRA: its adapter) in the MLflow model registry under this "
        "name, logged with MLflow's transformers flavour (--register-winner); needs "
        "train.keep_weights best or all and the mlflow backend"))


class ExperimentConfig(_Strict):
    """One experiment file: the sections below, each optional."""

    name: str = Field("tiny-cpu", description=(
        "the experiment's name; a new run's folder is <run_root>/<name>-<YYYYmmdd-HHMMSS> "
        "unless --run-name is given"))
    run_root: str = Field("runs", description="the folder that holds the run folders")
    model: ModelConfig = Field(ModelConfig(), description="the base model every training starts from")
    data: DataConfig = Field(DataConfig(), description="the training and validation examples")
    train: TrainConfig = Field(TrainConfig(), description="how each training runs")
    search: SearchConfig = Field(SearchConfig(), description=(
        "the search space and the method that walks it"))
    resources: ResourcesConfig = Field(ResourcesConfig(), description=(
        "what each trial gets from Ray, and the cluster"))
    judge: JudgeConfig = Field(JudgeConfig(), description=(
        "the judge that compares two candidates' answers"))
    tournament: TournamentConfig = Field(TournamentConfig(), description=(
        "how the judged matches pick the winner"))
    tracking: TrackingConfig = Field(TrackingConfig(), description="experiment tracking")
    run: RunStorageConfig = Field(RunStorageConfig(), description=(
        "cluster storage and trial transport"))

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        """The default run folder is `<name>-<YYYYmmdd-HHMMSS>`: it must be a name the
        filesystem takes (no NUL, at most NAME_MAX bytes with the 16-byte time suffix)."""
        if not v or "/" in v or v.startswith(".") or "\\" in v:
            raise ValueError("must be a plain folder name (no '/', not starting with '.')")
        return check_path_text(v, max_bytes=NAME_MAX - 16)

    @field_validator("run_root")
    @classmethod
    def _root_path(cls, v: str) -> str:
        return check_path_text(v)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        if self.model.lora is None and self.model.dtype in ("bfloat16", "float16") \
                and self.train.precision == "fp32":
            raise ValueError(f"model.dtype={self.model.dtype} with full fine-tuning would train pure "
                             f"{self.model.dtype} weights (Adam updates fall below its resolution); "
                             "set train.precision: bf16-mixed (fp32 master weights), or use LoRA")
        if self.tracking.register_winner and (self.train.keep_weights == "none" or self.tracking.backend != "mlflow"):
            raise ValueError("tracking.register_winner needs the winner's weights and MLflow: "
                             "set train.keep_weights: best (or all) and tracking.backend: mlflow")
        # ASHA and Optuna judge inside the trial (per-epoch reporter); halving stops trials
        # from the driver, through Ray Tune's scheduler, as the grid ends them
        if self.search.needs_anchor and self.resources.workers_per_trial > 1:
            raise ValueError("resources.workers_per_trial > 1 works with the grid search only "
                             "(search.search=grid, search.scheduler=none or halving)")
        return self


NAME_MAX = 255  # bytes in one file or folder name (Linux, macOS)


def check_path_text(text: str, max_bytes: int | None = None) -> str:
    """`text` usable in a file name: no NUL byte (the OS refuses it with ValueError) and, when
    `max_bytes` is given, at most that many bytes in UTF-8 (else the OS says "name too long")."""
    if "\0" in text:
        raise ValueError("contains a NUL byte")
    size = len(text.encode("utf-8", "surrogateescape"))
    if max_bytes is not None and size > max_bytes:
        raise ValueError(f"too long for a folder name ({size} bytes; at most {max_bytes})")
    return text


def lr_multiplier(cfg: ExperimentConfig) -> float:
    if cfg.train.lr_multiplier is not None:
        return cfg.train.lr_multiplier
    return 50.0 if cfg.model.name == "tiny" else 1.0


def packaged_assets() -> Path:
    """The files shipped inside the package (`hpo/assets/`: search spaces, DeepSpeed configs,
    experiment templates, the tiny trained judge, PandaLM's validation instructions)."""
    return Path(str(files("hpo") / "assets"))


def resource_candidates(name: str, base: Path | None = None) -> list[Path]:
    """Where `name` is looked for, in order: an absolute path only as given; else next to the
    experiment file (`base`, when given), the working directory, then the packaged copy."""
    p = Path(name).expanduser()
    if p.is_absolute():
        return [p]
    return [*([base / p] if base else []), p, packaged_assets() / p]


def find_resource(name: str, base: Path | None = None) -> Path | None:
    """The first existing candidate of `resource_candidates`, or None."""
    return next((c for c in resource_candidates(name, base) if c.exists()), None)


def resolve_resource(name: str, base: Path | None = None, what: str = "file") -> Path:
    """A file the config names (e.g. "configs/deepspeed/zero2.json"): the user's own copy wins,
    else the one shipped in the package; a one-line ConfigError naming every place looked."""
    found = find_resource(name, base)
    if found is None:
        looked = ", ".join(str(c.absolute()) for c in resource_candidates(name, base))
        raise ConfigError(f"{what} not found: {name} (looked for {looked})")
    return found


def config_error(exc: ValidationError, source: str) -> ConfigError:
    """A pydantic error as one line naming the file and the key; the one formatter for every
    YAML the project reads (experiment configs, search spaces)."""
    return ConfigError(_one_line(exc, source))


def _one_line(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in _as_written(err["loc"])) or "<root>"
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {loc}: {msg}{more}"


def _as_written(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """An error's location as the user wrote it: a judge backend's options sit flat beside
    `backend` (`judge.url`), not under the model's `settings` field."""
    if loc[:1] == ("judge",) and loc[1:2] == ("settings",):
        return ("judge", *loc[2:])
    return loc


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, with one-line errors for missing files and bad syntax."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(read_text(path))
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def read_text(path: Path) -> str:
    """A file the user gave, as UTF-8 text; a one-line ConfigError when it is not UTF-8 or
    cannot be read (the one reader for every YAML and JSON file `hpo` takes as input)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r});"
                          " save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Apply one CLI override like `train.batch_size=16` to a nested dict."""
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted}: '{key}' is not a section")
    node[keys[-1]] = value


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """defaults -> YAML file -> overrides (dotted keys), validated in one place. A stored run's
    config.yaml is complete (one written before each judge backend owned its options holds every
    backend's: the ones its backend does not take are dropped); a new experiment goes through
    `hpo.run.experiment.load_experiment`, which adds the model's preset and resolves file paths."""
    return validate_config(merge_sources(path, overrides, stored=True), path)


def merge_sources(path: Path | None, overrides: dict[str, Any] | None, stored: bool = False) -> dict[str, Any]:
    """The YAML file's mapping with the dotted overrides applied on top (an override that names
    another judge backend drops the file's options that backend does not take: `rebase_judge`)."""
    data: dict[str, Any] = read_yaml(path) if path else {}
    if stored and isinstance(data.get("judge"), dict):  # written before each backend owned its options
        data["judge"] = taken_options(data["judge"], data["judge"].get("backend", "reference"))
    if "judge.backend" in (overrides or {}) and isinstance(data.get("judge"), dict):
        data["judge"] = rebase_judge(data["judge"], (overrides or {})["judge.backend"])
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value)
    return data


def validate_config(data: dict[str, Any], path: Path | None) -> ExperimentConfig:
    """The typed config, or a one-line ConfigError naming the source."""
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, str(path) if path else "config") from None


def parse_override(text: str) -> tuple[str, Any]:
    """`--set key.path=value`; the value is parsed as YAML so numbers and booleans get types."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got '{text}'")
    key, _, raw = text.partition("=")
    if not key.strip():
        raise ConfigError("--set expects key=value, got an empty key")
    try:
        return key.strip(), yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key.strip()}: the value is not valid YAML"
                          f" ({getattr(exc, 'problem', None) or 'syntax error'})") from None
