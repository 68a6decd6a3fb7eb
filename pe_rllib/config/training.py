"""How a run trains: :class:`TrainingConfig` (RLlib algorithm, sampler, resources, checkpoints) and the periodic
:class:`EvaluationConfig`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pe_rllib.config.base import ROLES, _at_most, _check, _non_negative, _positive

SAMPLERS = ("rllib", "batched")


ACTION_DISTRIBUTIONS = ("gaussian", "squashed")

MODELS = ("mlp", "lstm", "gru")
RECURRENT_MODELS = ("lstm", "gru")


@dataclass(frozen=True)
class TrainingConfig:
    """RLlib algorithm, model, rollout, resource and checkpoint settings."""

    algorithm: str = "PPO"
    """RLlib algorithm (PPO on the new API stack)."""
    stop_iterations: int = 20
    """Training iterations of a run (``pe-rllib train --stop-iters`` overrides)."""
    seed: int = 0
    """Seed of the run (env runners derive their env seeds from it)."""
    lr: float = 3e-4
    """Learning rate."""
    gamma: float = 0.99
    """Discount factor."""
    lambda_: float = 0.95
    """GAE lambda."""
    clip_param: float = 0.2
    """PPO clip range."""
    entropy_coeff: float = 0.0
    """Entropy bonus coefficient."""
    vf_loss_coeff: float = 0.5
    """Value-loss coefficient."""
    vf_clip_param: float = 100_000.0
    """RLlib PPO's clip of the value loss (a squared error): samples beyond it give the critic no
    gradient. RLlib's default, 10, sits below the squared scale of this task's returns (capture and
    timeout bonuses of 10 plus shaping), which starved the critic: a fresh pursuer against a fixed
    evader reached a capture rate of 0.63 after 60 iterations with 1e5 against 0.33 with 10 (mean of
    3 seeds), and the quickstart pursuer's mean best-response gap fell from 0.24 to 0.02 (BENCHMARKS.md)."""
    num_epochs: int = 8
    """SGD epochs per training batch."""
    train_batch_size_per_learner: int = 4000
    """Env steps per training iteration and learner."""
    minibatch_size: int = 500
    """SGD minibatch size."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """MLP hidden layer sizes of both roles' policy and value networks."""
    activation: str = "tanh"
    """MLP activation ("tanh" or "relu")."""
    model: str = "mlp"
    """The roles' networks. "mlp": memoryless (``env.history_length`` stacks frames for short memory).
    "lstm" or "gru": RLlib's recurrent encoder, the MLP of ``hidden_sizes`` followed by one recurrent
    layer of ``cell_size`` units, separately for the policy and the value function; the state is carried
    from step to step within an episode and reset when one starts, and the learner trains on sequences
    of ``max_seq_len`` steps (the state at each sequence's start as it was sampled)."""
    cell_size: int = 64
    """Units of the recurrent layer ("lstm", "gru")."""
    max_seq_len: int = 20
    """Steps per training sequence of a recurrent model (backpropagation through time is cut there)."""
    lstm_forget_bias: float = 1.0
    """The initial bias of an LSTM's forget gates (``sigmoid(1)`` = 0.73: a fresh cell keeps most of its
    memory from step to step; torch's default, about 0, halves it every step)."""
    shared_encoder: bool = False
    """One encoder (for a recurrent model: one recurrent layer and one state) feeding both the policy and
    the value heads, instead of one each (RLlib's ``vf_share_layers``). The value loss then trains the
    encoder too: what the critic needs to remember (where the opponent was) is learned by regression,
    not from the policy gradient alone, and a recurrent model steps one recurrent layer instead of two."""
    action_distribution: str = "gaussian"
    """How the policy head's outputs become actions. "gaussian": RLlib's diagonal Gaussian, the env
    clipping its samples to [-1, 1]. "squashed": the same Gaussian over pre-squash actions, the env
    receiving their tanh (:class:`pe_rllib.policies.rl_module.SquashedDiagGaussian`; batched sampler
    only). Clipped, exploration noise costs a robot at its top speed speed on every step, and an
    entropy bonus grows without limit by moving mean and std outward together (``converge.yaml``'s
    policies reached |mean| ~13 and std ~20-50: trained on near-random bang-bang actions, evaluated
    on the mean); squashed, a saturated action stays at the bound (BENCHMARKS.md, issue 21)."""
    sampler: str = "batched"
    """"batched": pe_rllib's runner stepping num_envs_per_env_runner arenas of the numpy world at
    once (pe_rllib.training.batched_runner; timeouts are truncations); "rllib": RLlib's stock
    MultiAgentEnvRunner over the PettingZoo env (its envs stepped one by one in Python: use a few)."""
    num_env_runners: int = 0
    """Remote sampling actors (0 = sample in the driver process)."""
    num_envs_per_env_runner: int = 64
    """Arenas (batched sampler) or envs (rllib sampler) stepped by each env runner: at most this many,
    see ``min_fragment_length``."""
    min_fragment_length: int = 30
    """Fewest env steps each arena contributes to an iteration. The batch is split over runners x
    arenas, and every arena's share reaches the learner as episode chunks whose Python cost
    (episode objects, their transfer, the learner's connector pipeline) is per chunk, not per
    step: 2 runners x 256 arenas leave 8 steps per arena of a 4,000-step batch and trained 0.7x as
    fast as 2 x 64. So the arenas per runner are capped at batch / (runners x this) (see
    :func:`rollout_shape`); 0 takes ``num_envs_per_env_runner`` as given."""
    num_cpus_per_env_runner: float = 1.0
    """CPUs reserved per env runner; its torch intra-op threads follow (at least 1)."""
    num_learners: int = 0
    """Remote learner actors (0 = learn in the driver process)."""
    num_cpus_per_learner: int = 1
    """CPUs reserved per learner (the driver's, when ``num_learners`` is 0) and its torch intra-op
    threads. Torch's default, one thread per core, made the quickstart's small-MLP updates slower on
    a 16-core node than on 2 cores; raise it for large networks or minibatches on a CPU learner."""
    num_gpus_per_learner: float = 0.0
    """GPUs per learner: set > 0 on a GPU head node; the device comes from here, never hard-coded."""
    checkpoint_every: int = 1
    """Save a checkpoint every this many iterations (and always at the end)."""
    keep_checkpoints: int = 3
    """How many of the newest checkpoints to keep."""
    max_env_runner_restarts: int = 10
    """Recreate crashed env runners up to this many times (fault tolerance)."""
    init_checkpoint: str = ""
    """Start the roles in ``init_modules`` from this run's (newest intact checkpoint) or checkpoint's
    weights instead of fresh ones ("" = all fresh). ``pe-rllib exploit`` loads the frozen opponent so."""
    init_modules: tuple[str, ...] = ()
    """The roles ``init_checkpoint`` initialises, e.g. [evader]."""
    init_std: float = 0.0
    """With ``init_checkpoint``, the loaded roles that explore (those not in ``deterministic_modules``) start
    with this action standard deviation in every state (of the Gaussian before clipping or squashing), their
    means as trained; 0 = as loaded. A policy trained by imitation of a teacher keeps PPO's large stds (1-3
    on the [-1, 1] box): warm-started from it, an aerial pursuer whose mean captured 0.73 captured nothing
    while exploring, and its best response drifted away (BENCHMARKS.md, issue 24, sixth session).
    ``pe-rllib exploit --explore-std`` sets it."""
    deterministic_modules: tuple[str, ...] = ()
    """Roles whose module acts deterministically (its action distribution's mode) while sampling, as
    evaluation plays it, instead of exploring. ``pe-rllib exploit`` sets the frozen opponent of an RL
    best response so: a best response must answer the policy the gap is measured against (measured:
    trained against the exploring opponent, warm-started best responses fell far below the trained
    role they started from). Batched sampler only."""

    def __post_init__(self) -> None:
        _check(self.algorithm == "PPO", "algorithm", "must be 'PPO' (the only one wired so far)", self.algorithm)
        _positive(self, "lr", "clip_param", "vf_clip_param", "num_cpus_per_env_runner")
        _non_negative(self, "entropy_coeff", "vf_loss_coeff", "num_gpus_per_learner")
        _check(0.0 < self.gamma <= 1.0, "gamma", "must be in (0, 1]", self.gamma)
        _check(0.0 <= self.lambda_ <= 1.0, "lambda_", "must be in [0, 1]", self.lambda_)
        _check(self.action_distribution in ACTION_DISTRIBUTIONS, "action_distribution",
               f"must be one of {', '.join(ACTION_DISTRIBUTIONS)}", self.action_distribution)
        for name in ("stop_iterations", "num_epochs", "train_batch_size_per_learner", "minibatch_size",
                     "num_envs_per_env_runner", "checkpoint_every", "keep_checkpoints"):
            _check(getattr(self, name) >= 1, name, "must be >= 1", getattr(self, name))
        _check(isinstance(self.num_cpus_per_learner, int) and 1 <= self.num_cpus_per_learner <= 256,
               "num_cpus_per_learner", "must be an integer in [1, 256]", self.num_cpus_per_learner)
        _check(isinstance(self.min_fragment_length, int) and 0 <= self.min_fragment_length <= 100_000,
               "min_fragment_length", "must be an integer in [0, 100000]", self.min_fragment_length)
        runners = max(1, self.num_env_runners)
        _check(runners * self.min_fragment_length <= self.total_batch_size, "min_fragment_length",
               f"{runners} env runner(s) x {self.min_fragment_length} steps need a batch of at least "
               f"{runners * self.min_fragment_length} env steps (train_batch_size_per_learner x learners is "
               f"{self.total_batch_size}); lower it or num_env_runners, or raise the batch",
               self.min_fragment_length)
        for name in ("num_env_runners", "num_learners", "max_env_runner_restarts"):
            _check(getattr(self, name) >= 0, name, "must be >= 0", getattr(self, name))
        _check(self.minibatch_size <= self.train_batch_size_per_learner, "minibatch_size",
               f"must be <= train_batch_size_per_learner ({self.train_batch_size_per_learner})", self.minibatch_size)
        _at_most(self, 1.0, "lr")
        _at_most(self, 1000, "num_epochs")
        _at_most(self, 10_000_000, "train_batch_size_per_learner")
        _at_most(self, 16_384, "num_envs_per_env_runner")
        _at_most(self, 1024, "num_env_runners", "num_cpus_per_env_runner")
        _at_most(self, 256, "num_learners", "num_gpus_per_learner")
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        _check(1 <= len(self.hidden_sizes) <= 16 and all(1 <= h <= 8192 for h in self.hidden_sizes),
               "hidden_sizes", "must be 1 to 16 layer sizes, each in [1, 8192]", self.hidden_sizes)
        _check(self.model in MODELS, "model", f"must be one of {', '.join(MODELS)}", self.model)
        _check(isinstance(self.cell_size, int) and 1 <= self.cell_size <= 4096, "cell_size",
               "must be an integer in [1, 4096]", self.cell_size)
        _check(isinstance(self.max_seq_len, int) and 1 <= self.max_seq_len <= 10_000, "max_seq_len",
               "must be an integer in [1, 10000]", self.max_seq_len)
        _check(-10.0 <= self.lstm_forget_bias <= 10.0, "lstm_forget_bias", "must be in [-10, 10]",
               self.lstm_forget_bias)
        _check(self.activation in ("tanh", "relu"), "activation", "must be 'tanh' or 'relu'", self.activation)
        _check(self.sampler in SAMPLERS, "sampler", f"must be one of {SAMPLERS}", self.sampler)
        self._check_init()
        object.__setattr__(self, "deterministic_modules", tuple(self.deterministic_modules))
        _check(all(m in ROLES for m in self.deterministic_modules)
               and len(set(self.deterministic_modules)) == len(self.deterministic_modules),
               "deterministic_modules", f"must be distinct roles out of {ROLES}", self.deterministic_modules)
        _check(not self.deterministic_modules or self.sampler == "batched", "deterministic_modules",
               "needs sampler: batched (RLlib's own runner explores with every module)", self.deterministic_modules)
        _check(self.action_distribution != "squashed" or self.sampler == "batched", "action_distribution",
               "squashed needs sampler: batched (RLlib's own runner would clip, not squash, the actions)",
               self.action_distribution)

    def _check_init(self) -> None:
        """The starting weights' settings: ``init_checkpoint``, ``init_modules``, ``init_std``."""
        object.__setattr__(self, "init_modules", tuple(self.init_modules))
        _check(all(m in ROLES for m in self.init_modules) and len(set(self.init_modules)) == len(self.init_modules),
               "init_modules", f"must be distinct roles out of {ROLES}", self.init_modules)
        _check(isinstance(self.init_checkpoint, str), "init_checkpoint", "must be a path", self.init_checkpoint)
        _check(bool(self.init_checkpoint) == bool(self.init_modules), "init_modules",
               "must name at least one role exactly when init_checkpoint is set", self.init_modules)
        _check(self.init_std >= 0.0, "init_std", "must be >= 0", self.init_std)
        _check(not self.init_std or self.init_checkpoint, "init_std", "needs init_checkpoint (weights to reset)",
               self.init_std)

    @property
    def recurrent(self) -> bool:
        """Whether the roles' networks carry a state from step to step."""
        return self.model in RECURRENT_MODELS

    @property
    def total_batch_size(self) -> int:
        """Env steps per iteration over all learners (RLlib: per-learner batch x max(1, learners))."""
        return self.train_batch_size_per_learner * max(1, self.num_learners)


def rollout_shape(training: TrainingConfig) -> tuple[int, int]:
    """(arenas per env runner, rollout fragment length in steps per arena) for ``training``.

    The iteration's batch B is split over R sampling runners (the driver's when
    ``num_env_runners`` is 0) of N arenas each, L steps per arena, R x N x L >= B. N is the
    configured ``num_envs_per_env_runner``, capped at B / (R x ``min_fragment_length``) so that
    L >= ``min_fragment_length`` whatever the runner count (config validation guarantees
    R x ``min_fragment_length`` <= B); L = ceil(B / (R x N)).
    """
    runners = max(1, training.num_env_runners)
    batch = training.total_batch_size
    arenas = training.num_envs_per_env_runner
    if training.min_fragment_length:
        arenas = max(1, min(arenas, batch // (runners * training.min_fragment_length)))
    return arenas, math.ceil(batch / (runners * arenas))


def sampling_summary(training: TrainingConfig) -> str:
    """One line: how an iteration is sampled and where it is learned (the ``train`` header)."""
    arenas, fragment = rollout_shape(training)
    runners = max(1, training.num_env_runners)
    where = "driver" if training.num_env_runners == 0 else f"{runners} env runner(s)"
    capped = f" (of {training.num_envs_per_env_runner})" if arenas < training.num_envs_per_env_runner else ""
    device = "GPU" if training.num_gpus_per_learner > 0 else "CPU"
    learners = "the driver's learner" if training.num_learners == 0 else f"{training.num_learners} learners"
    return (f"{where} x {arenas} arenas{capped} x {fragment} steps = {runners * arenas * fragment:,} env steps per "
            f"iteration; {learners} on {device}, {training.num_cpus_per_learner} torch thread(s)")


def runner_threads(training: TrainingConfig) -> int:
    """Torch intra-op threads of an env runner: its CPU reservation, at least one."""
    return max(1, int(training.num_cpus_per_env_runner))


@dataclass(frozen=True)
class EvaluationConfig:
    """Periodic evaluation during training (pe_rllib.evaluation.suite): the current roles against
    every scripted opponent and each other, in the run's own world."""

    every: int = 0
    """Evaluate every this many iterations (0 = never; the last iteration is always evaluated when > 0)."""
    episodes: int = 200
    """Episodes per matchup (8 matchups; Wilson 95 % intervals on every rate)."""
    seed: int = 12345
    """Seed of the evaluation episodes (the same episodes every time, so evaluations compare)."""

    def __post_init__(self) -> None:
        _check(isinstance(self.every, int) and self.every >= 0, "every", "must be an integer >= 0", self.every)
        _check(isinstance(self.episodes, int) and 1 <= self.episodes <= 100_000, "episodes",
               "must be an integer in [1, 100000]", self.episodes)
        _check(self.seed >= 0, "seed", "must be >= 0", self.seed)
