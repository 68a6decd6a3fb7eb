"""Deployment-grade inference: a trained role's policy from a run or checkpoint, no Ray cluster.

Loading executes no code from the run directory: the network is rebuilt from the
checkpoint's ``experiment.yaml`` (safe YAML) with :func:`learned_module_spec`, and its
weights come from ``policies/<module>.pt``, read with ``torch.load(weights_only=True)``
(tensors only), after the checkpoint's SHA-256 manifest has been verified. RLlib's own
pickled state in the checkpoint is never opened here.

The policy applies exactly what training applied between env and module and back:
observations go in as float32 unchanged (the env already normalises them; no
connector filters are configured), and actions come out of the module's action
distribution, then are clipped to the Box [-1, 1] like RLlib's ``clip``/``unsquash``
step for this action space does.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np

from pe_rllib.config import ROLES, EnvConfig, ExperimentConfig, load_experiment
from pe_rllib.config.aerial import AerialConfig
from pe_rllib.policies import state as states
from pe_rllib.rundir import EXPERIMENT_FILE, POLICIES, RunDirectoryError, resolve_checkpoint

INFERENCE_THREADS = 1
"""Torch intra-op threads a policy's forward pass uses. The networks are small MLPs: on 2 idle
cores one thread is 0.86x of two (``benchmarks/bench_search.py``), but with the cores shared by
a training run two threads spin against it and a search generation took 15 s instead of 4 s
(BENCHMARKS.md, issue 19)."""


@contextlib.contextmanager
def torch_threads(count: int):
    """Run the block with ``count`` torch intra-op threads, restoring the process's setting after."""
    import torch

    before = torch.get_num_threads()
    if before != count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if before != count:
            torch.set_num_threads(before)


class LearnedPolicy:
    """One role of a trained run: ``act(obs [B, D]) -> actions [B, 2]``, or with memory ``step``.

    A memoryless policy (``training.model: mlp``) acts with :meth:`act`. A recurrent one
    (``lstm``, ``gru``; :attr:`stateful` is True) carries a state per arena, created by
    :meth:`initial_state` when episodes start and threaded through :meth:`step`::

        state = policy.initial_state(len(obs))
        actions, state = policy.step(obs, state)      # every step; reset an arena's rows when its episode ends

    :meth:`step` also works on a memoryless policy (its state is None), so code that plays any
    policy can use it throughout; :class:`pe_rllib.policies.acting.Acting` does, and resets the rows of
    arenas whose episode ended. The state is a nested dict of float32 arrays with the batch first
    (:mod:`pe_rllib.policies.state`).

    Attributes:
        role: "pursuer" or "evader".
        env_config: the world section it was trained with (:class:`EnvConfig`, or :class:`AerialConfig` for
            the aerial world)
            (``parallel_env(**to_dict(policy.env_config))`` rebuilds its world).
        experiment: the whole experiment config of the run.
        checkpoint: the checkpoint directory it was loaded from.
        stateful: whether the policy carries a state (a recurrent model).
    """

    def __init__(self, module, role: str, experiment: ExperimentConfig, checkpoint: Path,
                 deterministic: bool = True, seed: int | None = None) -> None:
        import torch

        self.module = module
        self.role = role
        self.experiment = experiment
        self.env_config: EnvConfig | AerialConfig = experiment.world_config
        self.checkpoint = checkpoint
        self.deterministic = deterministic
        self.stateful = bool(module.is_stateful())
        self._initial = states.to_numpy(module.get_initial_state()) if self.stateful else None
        self._dist_cls = module.get_inference_action_dist_cls()
        self._generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        self._dim = module.observation_space.shape[0]

    def initial_state(self, batch: int) -> states.State:
        """The state of ``batch`` arenas at the start of an episode (None for a memoryless policy)."""
        return states.tile(self._initial, batch) if self.stateful else None

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions for observations ``[B, D]`` (or one ``[D]``) of a memoryless policy."""
        if self.stateful:
            raise ValueError(f"the {self.role} policy is recurrent ({self.experiment.training.model}): "
                             "use step(obs, state) with initial_state(batch)")
        return self.step(obs, None)[0]

    def step(self, obs: np.ndarray, state: states.State) -> tuple[np.ndarray, states.State]:
        """``(actions, next_state)`` for observations ``[B, D]`` (or one ``[D]``) and the arenas' ``state``
        (from :meth:`initial_state` or the previous step; None for a memoryless policy)."""
        import torch

        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        if batch.shape[-1] != self._dim:
            raise ValueError(f"observation: expected dimension {self._dim} for {self.role}, got {batch.shape[-1]}")
        if self.stateful and state is None:
            raise ValueError(f"state: the {self.role} policy is recurrent; start from initial_state({len(batch)})")
        from pe_rllib.policies.rl_module import env_actions, forward_step

        with torch.no_grad(), torch_threads(INFERENCE_THREADS):
            dist_inputs, state_out = forward_step(self.module, torch.from_numpy(batch), False,
                                                  states.map_state(torch.from_numpy, state))
            if self.deterministic:
                actions = self._dist_cls.from_logits(dist_inputs).to_deterministic().sample()
            else:
                mean, log_std = dist_inputs.chunk(2, dim=-1)
                noise = torch.randn(mean.shape, generator=self._generator)
                actions = mean + noise * log_std.exp()
            actions = env_actions(self._dist_cls, actions).numpy().astype(np.float32)
        return (actions[0] if single else actions), states.to_numpy(state_out)


def load_module_weights(checkpoint: Path, module_id: str) -> dict:
    """Data-only weights of ``module_id`` from a (verified) checkpoint: ``{name: tensor}``."""
    import torch

    path = checkpoint / POLICIES / f"{module_id}.pt"
    if not path.is_file():
        raise RunDirectoryError(f"{checkpoint}: no weights for module {module_id!r} ({path.name} missing)")
    try:
        with warnings.catch_warnings():            # torch warns about foreign pickle protocols before refusing
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:                       # torch raises several types for bad files
        raise RunDirectoryError(f"{path}: not a data-only weights file ({type(err).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RunDirectoryError(f"{path}: expected a mapping of names to tensors")
    return state


def load_policy(path: str | Path, role: str, *, deterministic: bool = True, seed: int | None = None,
                module_id: str | None = None) -> LearnedPolicy:
    """Load ``role``'s trained policy from a run directory (newest intact checkpoint) or a checkpoint.

    ``module_id`` picks another module of the same role (e.g. ``pursuer_snapshot_0``).
    """
    if role not in ROLES:
        raise ValueError(f"role: must be 'pursuer' or 'evader', got {role!r}")
    checkpoint = resolve_checkpoint(path)
    experiment = load_experiment(checkpoint / EXPERIMENT_FILE)
    weights = load_module_weights(checkpoint, module_id or role)
    try:
        return policy_from_weights(experiment, role, weights, checkpoint=checkpoint, deterministic=deterministic,
                                   seed=seed)
    except RuntimeError as err:
        raise RunDirectoryError(f"{checkpoint}: weights of {module_id or role!r} do not fit the network its "
                                f"experiment.yaml describes ({str(err).splitlines()[0]})") from None


def policy_from_weights(experiment: ExperimentConfig, role: str, weights: dict, *, checkpoint: Path | None = None,
                        deterministic: bool = True, seed: int | None = None) -> LearnedPolicy:
    """A role's policy from in-memory weights (``{name: tensor or array}``, e.g. a learner's current ones)."""
    import torch

    from pe_rllib.policies.rl_module import learned_module_spec

    module = learned_module_spec(experiment, role).build()
    module.load_state_dict({name: torch.as_tensor(np.asarray(value)) for name, value in weights.items()}, strict=True)
    module.eval()
    return LearnedPolicy(module, role, experiment, checkpoint, deterministic=deterministic, seed=seed)
