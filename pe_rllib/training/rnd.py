"""Random network distillation (``exploration.rnd``): an exploration bonus for the roles it names.

A frozen, randomly initialised target network ``f`` and a predictor ``g`` map a (whitened) observation to
an embedding; the predictor trains to match the target on the observations the role visits, so its error
``|g(o) - f(o)|^2`` is large where the role has rarely been (Burda et al. 2018, "Exploration by random
network distillation"). A step's bonus is the error on its next observation divided by the running
standard deviation of the errors (so ``coeff`` means the same whatever the embedding's scale). Observations
are whitened with running statistics and clipped to +-5, as in the paper.

:class:`RandomNetworkDistillation` lives in the learner (:class:`~pe_rllib.training.learner.SelfPlayPPOLearner`),
which adds the bonus to the role's episodes before PPO's advantages are computed; nothing outside the learner
sees it. Its whole state (both networks, the predictor's Adam moments and the running statistics) is plain
arrays (:meth:`get_state`), checkpointed with the learner.
"""

from __future__ import annotations

import numpy as np
import torch

from pe_rllib.config.mechanisms import RNDConfig

OBS_CLIP = 5.0
"""Whitened observations are clipped to this many standard deviations (the paper's value)."""


class RunningMoments:
    """Running mean and variance over batches (Chan et al.'s parallel update), of a scalar or a vector."""

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.mean = np.zeros(shape)
        self.var = np.ones(shape)
        self.count = 0.0

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, dtype=np.float64)
        n = batch.shape[0]
        if n == 0:
            return
        mean, var = batch.mean(axis=0), batch.var(axis=0)
        total = self.count + n
        delta = mean - self.mean
        m2 = self.var * self.count + var * n + delta ** 2 * self.count * n / total
        self.mean, self.var, self.count = self.mean + delta * n / total, m2 / total, total

    def get_state(self) -> dict:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": self.count}

    def set_state(self, state: dict) -> None:
        self.mean = np.array(state["mean"], dtype=np.float64)
        self.var = np.array(state["var"], dtype=np.float64)
        self.count = float(state["count"])


def _mlp(sizes: list[int]) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


class RandomNetworkDistillation:
    """One role's target, predictor, predictor optimiser and running statistics."""

    def __init__(self, config: RNDConfig, obs_dim: int, seed: int = 0, device: str = "cpu") -> None:
        self.config, self.obs_dim, self.device = config, obs_dim, torch.device(device)
        sizes = [obs_dim, *map(int, config.hidden_sizes), config.embedding_dim]
        with torch.random.fork_rng(devices=[]):    # target and predictor from the run's seed; the process's
            torch.manual_seed(seed)                 # own generator is left as it was
            self.target, self.predictor = _mlp(sizes).to(self.device), _mlp(sizes).to(self.device)
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=config.lr)
        self.obs_moments = RunningMoments((obs_dim,))
        self.error_moments = RunningMoments()

    def _whiten(self, obs: np.ndarray) -> torch.Tensor:
        std = np.sqrt(self.obs_moments.var) + 1e-8
        whitened = np.clip((obs - self.obs_moments.mean) / std, -OBS_CLIP, OBS_CLIP)
        return torch.as_tensor(whitened, dtype=torch.float32, device=self.device)

    def errors(self, obs: np.ndarray) -> np.ndarray:
        """The predictor's squared error ``[B]`` on observations ``[B, D]`` (no statistics change)."""
        with torch.no_grad():
            x = self._whiten(np.asarray(obs, dtype=np.float64))
            return ((self.predictor(x) - self.target(x)) ** 2).sum(-1).cpu().numpy().astype(np.float64)

    def bonus(self, obs: np.ndarray, update_statistics: bool = True) -> np.ndarray:
        """The normalised bonus ``[B]`` of next observations ``[B, D]``: error / running std of errors. With
        ``update_statistics`` (training) the running statistics first take in this batch."""
        obs = np.asarray(obs, dtype=np.float64)
        if update_statistics:
            self.obs_moments.update(obs)
        error = self.errors(obs)
        if update_statistics:
            self.error_moments.update(error)
        return error / (np.sqrt(self.error_moments.var) + 1e-8)

    def train_predictor(self, obs: np.ndarray, rng: np.random.Generator) -> float:
        """``predictor_epochs`` passes of Adam over ``obs`` in shuffled minibatches; the mean loss."""
        x = self._whiten(np.asarray(obs, dtype=np.float64))
        with torch.no_grad():
            y = self.target(x)
        losses = []
        for _ in range(self.config.predictor_epochs):
            order = torch.as_tensor(rng.permutation(len(x)), device=self.device)
            for start in range(0, len(x), self.config.predictor_minibatch):
                rows = order[start:start + self.config.predictor_minibatch]
                loss = ((self.predictor(x[rows]) - y[rows]) ** 2).sum(-1).mean()
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
        return float(np.mean(losses)) if losses else float("nan")

    # ------------------------------------------------------------------ state (plain arrays only)

    def get_state(self) -> dict:
        def arrays(module: torch.nn.Module) -> dict:
            return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}

        params = list(self.predictor.parameters())
        moments = [self.optimizer.state.get(p, {}) for p in params]
        adam = {"step": [float(m["step"]) if "step" in m else 0.0 for m in moments],
                "exp_avg": [m["exp_avg"].cpu().numpy().copy() if "exp_avg" in m else None for m in moments],
                "exp_avg_sq": [m["exp_avg_sq"].cpu().numpy().copy() if "exp_avg_sq" in m else None
                               for m in moments]}
        return {"target": arrays(self.target), "predictor": arrays(self.predictor), "adam": adam,
                "obs_moments": self.obs_moments.get_state(), "error_moments": self.error_moments.get_state()}

    def set_state(self, state: dict) -> None:
        def load(module: torch.nn.Module, arrays: dict) -> None:
            module.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()})

        load(self.target, state["target"])
        load(self.predictor, state["predictor"])
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=self.config.lr)
        adam = state["adam"]
        for p, step, avg, avg_sq in zip(self.predictor.parameters(), adam["step"], adam["exp_avg"],
                                        adam["exp_avg_sq"]):
            if avg is not None:
                self.optimizer.state[p] = {"step": torch.tensor(float(step)),
                                           "exp_avg": torch.as_tensor(np.asarray(avg), device=self.device).clone(),
                                           "exp_avg_sq": torch.as_tensor(np.asarray(avg_sq),
                                                                         device=self.device).clone()}
        self.obs_moments.set_state(state["obs_moments"])
        self.error_moments.set_state(state["error_moments"])


def module_chunks(episodes: list, module_id: str) -> list:
    """The non-empty episode chunks ``module_id`` played (the learner's batch holds every module's)."""
    return [episode for episode in episodes if getattr(episode, "module_id", None) == module_id and len(episode)]


def add_bonus(episodes: list, rnd: dict[str, RandomNetworkDistillation], coeff: float,
              rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Add ``coeff`` times each named module's bonus to its episodes' rewards (in place; the bonus of step
    ``t`` is that of observation ``t + 1``), then train each predictor on those observations. Returns per
    module the mean bonus (before ``coeff``), the mean extrinsic reward and the predictor's loss."""
    figures = {}
    for module_id, model in rnd.items():
        chunks = module_chunks(episodes, module_id)
        if not chunks:
            continue
        next_obs = [np.asarray(episode.get_observations(slice(1, len(episode) + 1))) for episode in chunks]
        flat = np.concatenate(next_obs).reshape(-1, model.obs_dim)
        bonus = model.bonus(flat)
        start, extrinsic = 0, []
        for episode in chunks:
            rewards = np.asarray(episode.get_rewards(), dtype=np.float64)
            extrinsic.append(rewards)
            if isinstance(episode.rewards.data, np.ndarray) and not episode.rewards.data.flags.writeable:
                # Episodes from remote runners arrive with their arrays read-only (zero-copy from Ray's object
                # store): give the reward buffer its own copy before writing (RLlib 2.60's public buffer field).
                episode.rewards.data = episode.rewards.data.copy()
            episode.set_rewards(new_data=rewards + coeff * bonus[start:start + len(episode)])
            start += len(episode)
        loss = model.train_predictor(flat, rng)
        figures[module_id] = {"rnd_bonus": float(bonus.mean()), "rnd_extrinsic_reward":
                              float(np.concatenate(extrinsic).mean()), "rnd_predictor_loss": loss}
    return figures


__all__ = ["RandomNetworkDistillation", "RunningMoments", "add_bonus", "module_chunks"]
