"""Settings of a self-consuming loop experiment, its arms, and the presets (the embedded demo, the paper's runs)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from ..generation import DEFAULT_GUIDANCE
from ..motion.skeleton import MAX_FRAMES, MIN_FRAMES

DEFAULT_CORRECTOR = "physics_correct:correct"
DEFAULT_PHYSICS = "physics_correct.metrics:physics_metrics"
SHOWCASE_PROMPTS = (
    "a person walks forward",
    "a person jumps forward",
    "a person squats down and stands back up",
    "a person waves with the right hand",
)


@dataclass(frozen=True)
class Arm:
    """One line of the experiment: ``baseline`` (real data only), or synthetic data at ratio ``lam`` with a
    fraction gamma/(1+gamma) of it corrected (``no_correction``: gamma = 0; ``correction``: gamma > 0, inf = all)."""

    kind: str
    seed: int
    lam: float = 0.0
    gamma: float = 0.0

    @property
    def name(self) -> str:
        if self.kind == "baseline":
            return f"baseline_seed{self.seed}"
        gamma = "" if self.kind == "no_correction" else f"_gamma{self.gamma:g}"
        return f"{self.kind}_lam{self.lam:g}{gamma}_seed{self.seed}"

    @property
    def label(self) -> str:
        if self.kind == "baseline":
            return "baseline"
        if self.kind == "no_correction":
            return f"no correction, λ={self.lam:g}"
        return f"correction γ={self.gamma:g}, λ={self.lam:g}".replace("γ=inf", "γ=∞")

    @property
    def corrected_fraction(self) -> float:
        """gamma/(1+gamma): the share of synthetic motions the corrector maps (1 for gamma = inf)."""
        return 1.0 if math.isinf(self.gamma) else self.gamma / (1 + self.gamma)


@dataclass(frozen=True)
class LoopConfig:
    """Everything a loop run depends on; stored in the run folder (``loop.json``) and checked on resume."""

    data: str = "data/embedded"
    evaluator: str | None = None  # evaluator folder; default <data>/evaluator
    n: int | None = 64  # real train clips used (a fixed seeded subset); None: the whole train split
    subset_seed: int = 0
    lambdas: tuple[float, ...] = (1.0,)  # synthetic motions per generation = floor(lambda * n)
    gammas: tuple[float, ...] = (math.inf,)  # correction arms; gamma = 0 is the no_correction arm, always run
    seeds: tuple[int, ...] = (0,)
    generations: int = 8  # generations after generation 0
    # model and training
    preset: str = "tiny"
    text_encoder: str = "minilm"
    clip_path: str | None = None
    gen0_steps: int = 400
    steps_per_generation: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    ema_decay: float = 0.99
    optimizer: str = "fresh"  # "fresh" (the paper: a new AdamW each generation) or "carry"
    synthetic: str = "replace"  # "replace" (the paper) or "accumulate" (every past synthetic set stays)
    # synthesis
    sampler: str = "ddim"
    sampling_steps: int = 20
    guidance: float = 1.0  # the paper's code samples without guidance (its scale 2.5 is never applied)
    synthetic_frames: tuple[int, int] = (MIN_FRAMES, MAX_FRAMES)  # the real length clipped to this range
    # correction
    corrector: str = DEFAULT_CORRECTOR
    corrector_options: dict = field(default_factory=lambda: {"workers": 2})
    on_failure: str = "drop"  # a motion whose correction failed: "drop" it or keep it "raw"
    # A correction that fell (and was reset to the generated motion) more often than this counts as failed and is
    # handled by on_failure; None keeps every correction, as the paper's fail-safe does.
    max_falls: int | None = 0
    # evaluation
    eval_every: int = 1
    eval_size: int | None = 96  # test entries evaluated (seeded subset); None: the whole test split
    eval_steps: int = 20
    eval_guidance: float = DEFAULT_GUIDANCE
    eval_repeats: int = 5
    eval_pool: int = 32
    eval_diversity_pairs: int = 64
    physics: str = DEFAULT_PHYSICS
    # outputs
    showcase_prompts: tuple[str, ...] = SHOWCASE_PROMPTS
    showcase_seconds: float = 3.0
    showcase_generations: tuple[int, ...] | None = None  # default: 0, the middle and the last generation
    keep_generations: int = 1  # finished generations whose checkpoints and synthetic sets stay on disk
    device: str = "cpu"

    def __post_init__(self):
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(message)

        need(self.n is None or self.n >= 2, f"n must be at least 2 real clips (or None for all), got {self.n}")
        need(len(self.lambdas) > 0 and all(lam > 0 for lam in self.lambdas), f"lambdas must be > 0: {self.lambdas}")
        need(all(g > 0 for g in self.gammas), f"gammas must be > 0 (0 is the no_correction arm): {self.gammas}")
        need(len(self.seeds) > 0 and len(set(self.seeds)) == len(self.seeds), f"seeds must be distinct: {self.seeds}")
        need(self.generations >= 1, f"generations must be >= 1, got {self.generations}")
        for name in ("gen0_steps", "steps_per_generation", "batch_size", "sampling_steps", "eval_every"):
            need(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        need(self.keep_generations >= 1, f"keep_generations must be >= 1, got {self.keep_generations}")
        need(self.optimizer in ("fresh", "carry"), f"optimizer is 'fresh' or 'carry', got {self.optimizer!r}")
        need(self.synthetic in ("replace", "accumulate"), f"synthetic is 'replace' or 'accumulate': {self.synthetic!r}")
        need(self.on_failure in ("drop", "raw"), f"on_failure is 'drop' or 'raw', got {self.on_failure!r}")
        need(self.max_falls is None or self.max_falls >= 0, f"max_falls must be >= 0 or None, got {self.max_falls}")
        low, high = self.synthetic_frames
        need(MIN_FRAMES <= low <= high <= MAX_FRAMES, f"synthetic_frames must lie in {MIN_FRAMES}..{MAX_FRAMES}")
        need(":" in self.corrector, f"corrector is an import path 'module:function', got {self.corrector!r}")
        need(self.eval_size is None or self.eval_size >= self.eval_pool, "eval_size must be >= eval_pool")
        need(len(self.showcase_prompts) > 0, "give at least one showcase prompt")
        for g in self.showcase_generations or ():
            need(0 <= g <= self.generations, f"showcase generation {g} is outside 0..{self.generations}")

    @property
    def arms(self) -> list[Arm]:
        """baseline, no_correction and the correction arms, for every seed (and every lambda)."""
        arms = []
        for seed in self.seeds:
            arms.append(Arm("baseline", seed))
            for lam in self.lambdas:
                arms.append(Arm("no_correction", seed, lam, 0.0))
                arms.extend(Arm("correction", seed, lam, gamma) for gamma in self.gammas)
        return arms

    @property
    def evaluated_generations(self) -> list[int]:
        """Generations with an evaluation: every ``eval_every``-th, and always 0 and the last."""
        return sorted({0, self.generations, *range(0, self.generations + 1, self.eval_every)})

    @property
    def showcased_generations(self) -> list[int]:
        if self.showcase_generations is not None:
            return sorted(set(self.showcase_generations))
        return sorted({0, self.generations // 2, self.generations})

    def to_dict(self) -> dict:
        data = asdict(self)
        data["gammas"] = [str(g) if math.isinf(g) else g for g in self.gammas]  # JSON has no inf
        return data

    @classmethod
    def from_dict(cls, data: dict) -> LoopConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown loop settings {unknown}; known: {sorted(names)}")
        data = dict(data)
        for key in ("lambdas", "gammas", "seeds", "synthetic_frames", "showcase_prompts", "showcase_generations"):
            if data.get(key) is not None:
                data[key] = tuple(float(v) if key == "gammas" else v for v in data[key])
        return cls(**data)


PAPER_COMMON = dict(
    preset="mdm",
    text_encoder="clip",
    batch_size=64,
    lr=1e-4,
    ema_decay=0.0,  # the paper trains without EMA: decay 0 makes the EMA the raw weights
    generations=50,
    sampler="ddpm",
    sampling_steps=1000,
    guidance=1.0,
    eval_size=None,
    eval_steps=1000,
    eval_guidance=1.0,
    eval_repeats=1,
    seeds=(42,),
    max_falls=None,  # the paper keeps every corrected motion, however often UHC reset it
)

PRESETS: dict[str, dict] = {
    # The CPU demo of `make train-loop`: the paper's smallest setting (n = 64, lambda = 1) scaled to minutes.
    "embedded": {},
    # The paper's runs on a real HumanML3D folder (GPU). n counts train IDs; its subsets held 65/129/257.
    "paper-64": dict(PAPER_COMMON, n=64, gen0_steps=5_000, steps_per_generation=1_000, lambdas=(0.25, 0.5, 0.75, 1.0)),
    "paper-128": dict(
        PAPER_COMMON, n=128, gen0_steps=10_000, steps_per_generation=1_000, lambdas=(0.25, 0.5, 0.75, 1.0)
    ),
    "paper-256": dict(
        PAPER_COMMON, n=256, gen0_steps=20_000, steps_per_generation=1_000, lambdas=(0.25, 0.5, 0.75, 1.0)
    ),
    "paper-2794": dict(
        PAPER_COMMON,
        n=None,
        gen0_steps=200_000,
        steps_per_generation=40_000,
        lambdas=(0.05, 0.1, 0.15, 0.2, 0.25),
    ),
}


def preset_config(name: str, **overrides) -> LoopConfig:
    """The named preset with ``overrides`` (any ``LoopConfig`` field) applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown loop preset {name!r}; choose one of {sorted(PRESETS)}")
    return LoopConfig(**{**PRESETS[name], **overrides})
