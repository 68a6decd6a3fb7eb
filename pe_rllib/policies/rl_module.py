"""RLlib module specs: the learned roles' networks, and a scripted opponent as a (never trained) module.

:func:`learned_module_spec` is the one definition of a learned role's network: training
declares its modules with it, and :func:`~pe_rllib.policies.inference.load_policy`
rebuilds a module from it and loads data-only weights (no pickles).

:class:`ScriptedRLModule` returns actions directly (``Columns.ACTIONS``), like RLlib's own
heuristic modules, so the env runner skips sampling for it; it has no weights and must
never be in ``policies_to_train``.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import torch
from ray.rllib.algorithms.ppo.ppo_catalog import PPOCatalog
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchDiagGaussian
from ray.rllib.core.models.configs import RecurrentEncoderConfig
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec

from pe_rllib.config import ExperimentConfig, TrainingConfig, from_dict, to_dict
from pe_rllib.envs.worlds import world_spaces
from pe_rllib.policies.catalogue import make_world_scripted
from pe_rllib.policies.families import make_family

logger = logging.getLogger(__name__)


def model_config(training: TrainingConfig) -> dict:
    """RLlib's default-model settings for the learned roles (separate policy and value networks unless
    ``training.shared_encoder``), plus the
    action distribution (``training.action_distribution``, read by :class:`LearnedPPOModule`) and the
    recurrent layer's type (``recurrent_layer``, read by :class:`RecurrentPPOCatalog`).

    A recurrent ``training.model`` is RLlib's own recurrent encoder (``use_lstm``): the MLP of
    ``hidden_sizes`` as its tokenizer, then one LSTM or GRU layer of ``cell_size`` units."""
    return {"fcnet_hiddens": list(training.hidden_sizes), "fcnet_activation": training.activation,
            "vf_share_layers": training.shared_encoder, "action_distribution": training.action_distribution,
            "use_lstm": training.recurrent, "lstm_cell_size": training.cell_size,
            "max_seq_len": training.max_seq_len, "recurrent_layer": training.model,
            "lstm_forget_bias": training.lstm_forget_bias if training.model == "lstm" else None}


class RecurrentPPOCatalog(PPOCatalog):
    """PPO's catalog, with the recurrent layer a GRU where ``model_config["recurrent_layer"]`` says "gru".

    RLlib 2.60's catalog builds its recurrent encoder as an LSTM whenever ``use_lstm`` is set, while its
    :class:`RecurrentEncoderConfig` also builds GRUs; this picks the layer type and changes nothing else."""

    @classmethod
    def _get_encoder_config(cls, observation_space, model_config_dict, action_space=None):
        config = super()._get_encoder_config(observation_space=observation_space,
                                             model_config_dict=model_config_dict, action_space=action_space)
        if isinstance(config, RecurrentEncoderConfig) and model_config_dict.get("recurrent_layer") == "gru":
            config = dataclasses.replace(config, recurrent_layer_type="gru")
        return config


class SquashedDiagGaussian(TorchDiagGaussian):
    """A diagonal Gaussian over pre-squash actions ``u``; the env receives ``tanh(u)``.

    The module's samples, stored ``ACTIONS``, log-probabilities and KL are those of RLlib's Gaussian
    over ``u`` (``tanh`` is a bijection, so PPO's probability ratio and the KL are the same in ``u``
    and in the squashed action, and no ``atanh`` of a saturated action is ever taken). What reaches the
    env is :meth:`env_actions` (``tanh``), in place of the clip RLlib's module-to-env pipeline applies;
    the deterministic action is ``tanh`` of the mean. This is RLlib's own split between ``ACTIONS``
    (for the learner) and the env's actions, and the squashed normal Brax's PPO uses by default.

    :meth:`entropy` is that of the squashed action, ``H(u) + E[sum log(1 - tanh(u)^2)]``, estimated
    with one reparameterised sample: with the Gaussian's own entropy, a bonus would pay for pushing
    the mean and the spread outward together while the squashed actions stay pinned at the bounds.

    Why (BENCHMARKS.md, issue 21): with RLlib's Gaussian the env clips samples, so a policy at the top
    speed pays for every bit of exploration noise in lost speed (a pursuer whose mean speed action is
    1 with std 0.3 runs at 94 % of its top speed on average), and trained so, ``converge.yaml``'s
    policies moved their means to |13| and stds to 20-50: training played near-random bang-bang
    actions while evaluation plays the mean. Squashed, a saturated ``u`` stays at the bound whatever
    the noise.
    """

    @staticmethod
    def env_actions(actions: torch.Tensor) -> torch.Tensor:
        """The env's actions for samples (or means) ``u``: ``tanh(u)``, inside [-1, 1]."""
        return torch.tanh(actions)

    def entropy(self) -> torch.Tensor:
        u = self._dist.rsample()
        log_det = 2.0 * (math.log(2.0) - u - torch.nn.functional.softplus(-2.0 * u))   # log(1 - tanh(u)^2)
        return super().entropy() + log_det.sum(-1)


def env_actions(dist_cls: type, actions: torch.Tensor) -> torch.Tensor:
    """What the env receives for a learned module's sampled (or deterministic) ``actions``: ``tanh`` of
    them for :class:`SquashedDiagGaussian`, else the clip to [-1, 1] RLlib's module-to-env pipeline does."""
    if dist_cls is SquashedDiagGaussian:
        return SquashedDiagGaussian.env_actions(actions)
    return actions.clamp(-1.0, 1.0)


def learned_module_spec(experiment: ExperimentConfig, role: str | None = None) -> RLModuleSpec:
    """The PPO module every learned ``role`` (and its snapshots) uses in ``experiment``'s world. With
    ``safety.mode: layer`` the module ends in the role's safety QP (:class:`~pe_rllib.safety.layer.PolicySafetyLayer`),
    so the role must be named."""
    obs_space, act_space = world_spaces(experiment)
    config = model_config(experiment.training)
    if experiment.safety.mode == "layer":                  # part of the policy, with or without the env filter
        if role is None:
            raise ValueError("learned_module_spec: safety.mode 'layer' needs the module's role")
        config["safety_layer"] = {"experiment": to_dict(experiment), "role": role}
    return RLModuleSpec(module_class=LearnedPPOModule, observation_space=obs_space, action_space=act_space,
                        model_config=config, catalog_class=RecurrentPPOCatalog)


def with_exploration_std(weights: dict, std: float) -> dict:
    """A learned module's weights (``{name: array}``) with its action standard deviation reset to ``std`` in
    every state: the policy head's log-std outputs (the second half of its last layer, which
    :class:`LearnedPPOModule` splits into means and log-stds) get zero weights and bias ``log(std)``. The means,
    the value function and everything else are kept. Used to warm-start a learner from trained weights whose
    stds PPO left large (BENCHMARKS.md, issue 24, sixth session)."""
    heads = sorted(int(name.split(".")[3]) for name in weights
                   if name.startswith("pi.net.mlp.") and name.endswith(".weight"))
    if not heads or std <= 0.0:
        raise ValueError(f"with_exploration_std: needs a policy head (pi.net.mlp.*) and std > 0, got {std}")
    last = f"pi.net.mlp.{heads[-1]}"
    out = dict(weights)
    weight, bias = np.array(weights[f"{last}.weight"], copy=True), np.array(weights[f"{last}.bias"], copy=True)
    half = bias.shape[0] // 2
    weight[half:] = 0.0
    bias[half:] = math.log(std)
    out[f"{last}.weight"], out[f"{last}.bias"] = weight, bias
    return out


def init_forget_gate(lstm: torch.nn.LSTM | None, bias: float) -> None:
    """Start an LSTM's forget gates at ``sigmoid(bias)``: its input-side forget biases set to ``bias`` and its
    hidden-side ones to 0 (torch orders the gates input, forget, cell, output). With torch's default
    (uniform, about 0) a fresh cell keeps half of its memory per step, so what an episode's first steps
    showed is gone before the policy can learn to use it; a bias of 1 (Gers et al. 2000; Jozefowicz et al.
    2015) keeps 73 %. No-op for None (a GRU or no recurrent layer)."""
    if lstm is None:
        return
    size = lstm.hidden_size
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            getattr(lstm, f"bias_ih_l{layer}")[size:2 * size].fill_(bias)
            getattr(lstm, f"bias_hh_l{layer}")[size:2 * size].zero_()


class LearnedPPOModule(DefaultPPOTorchRLModule):
    """RLlib's default PPO torch module, minus per-call costs when it acts.

    Same weights, state keys and outputs as RLlib's module; two shortcuts for acting:

    * RLlib 2.60's ``TorchRLModule.forward_exploration`` / ``forward_inference`` call
      ``self.eval()`` on every call, and ``eval()`` walks the whole ``nn.Module`` tree (about
      50 submodules here): 0.3 ms per call, as much as the forward pass itself (profiled). A
      module already in eval mode (the env runners put theirs there once) skips the walk; one
      in training mode (the learner's) goes through RLlib's own toggling unchanged.
    * :meth:`act` (the batched sampler's per-step call) runs the actor MLP's layers directly
      (the encoder and head wrappers, and the critic RLlib's forward also computes, cost about
      four times the layers' own arithmetic at 32 arenas) and samples the diagonal Gaussian
      without building a ``torch.distributions`` object: the same operations on the same
      tensors, so the same numbers and the same random draws. Where the module is not that
      shape (another encoder, a recurrent one, another distribution) or the first call's
      outputs differ from RLlib's path, it acts through RLlib's path instead.
    """

    def setup(self) -> None:
        super().setup()
        layer = (self.model_config or {}).get("safety_layer")
        self.safety_layer = None
        if layer is not None:
            from pe_rllib.safety.layer import PolicySafetyLayer

            self.safety_layer = PolicySafetyLayer(from_dict(ExperimentConfig, layer["experiment"]), layer["role"])
        forget_bias = (self.model_config or {}).get("lstm_forget_bias")
        if forget_bias is not None:
            for part in ("actor_encoder", "critic_encoder", "encoder"):     # separate, or shared
                init_forget_gate(getattr(getattr(self.encoder, part, None), "lstm", None), forget_bias)

    def get_exploration_action_dist_cls(self):
        return self._action_dist_cls() or super().get_exploration_action_dist_cls()

    def get_inference_action_dist_cls(self):
        return self._action_dist_cls() or super().get_inference_action_dist_cls()

    def get_train_action_dist_cls(self):
        return self._action_dist_cls() or super().get_train_action_dist_cls()

    def _action_dist_cls(self) -> type | None:
        """:class:`SquashedDiagGaussian` where ``model_config`` asks for it, else None (RLlib's choice)."""
        squashed = (self.model_config or {}).get("action_distribution", "gaussian") == "squashed"
        return SquashedDiagGaussian if squashed else None

    def _forward(self, batch, **kwargs):
        return self._through_layer(batch, super()._forward(batch, **kwargs))

    def _forward_train(self, batch, **kwargs):
        return self._through_layer(batch, super()._forward_train(batch, **kwargs))

    def _through_layer(self, batch, out: dict) -> dict:
        """With ``safety.mode: layer``, the Gaussian's mean moved to the safety QP's solution (differentiably)."""
        if self.safety_layer is not None:
            out[Columns.ACTION_DIST_INPUTS] = self.safety_layer.apply(out[Columns.ACTION_DIST_INPUTS],
                                                                     batch[Columns.OBS])
        return out

    def forward_exploration(self, batch, **kwargs):
        if self.training:
            return super().forward_exploration(batch, **kwargs)
        return self._forward_exploration(batch, **kwargs)

    def forward_inference(self, batch, **kwargs):
        if self.training:
            return super().forward_inference(batch, **kwargs)
        return self._forward_inference(batch, **kwargs)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, explore: bool, state=None):
        """``(actions, logp, dist_inputs, state_out)`` for a batch of observations; ``logp`` is None unless
        exploring, ``state_out`` None for a memoryless module.

        Exploring samples the exploration distribution; otherwise the action is its
        deterministic form (the Gaussian's mean), as RLlib's env runner acts. A recurrent module
        takes its state ``state`` (batch-first torch tensors, as :func:`act_through_rllib`).
        """
        layers = None if state is not None else self._actor_layers(obs)
        if layers is None:
            return act_through_rllib(self, obs, explore, state)
        inputs = obs
        for layer in layers:
            inputs = layer.forward(inputs)   # no hooks are registered on these layers: skip __call__'s machinery
        return (*self._sample(inputs, explore), None)

    @staticmethod
    def _sample(inputs: torch.Tensor, explore: bool):
        """TorchDiagGaussian.from_logits(inputs) (also SquashedDiagGaussian's): sample and logp
        (torch.distributions.Normal's formulas)."""
        loc, log_std = inputs.chunk(2, dim=-1)
        if not explore:
            return loc, None, inputs
        scale = log_std.exp()
        actions = torch.normal(loc, scale)
        logp = -((actions - loc) ** 2) / (2 * scale**2) - scale.log() - math.log(math.sqrt(2 * math.pi))
        return actions, logp.sum(-1), inputs

    def _actor_layers(self, obs: torch.Tensor) -> list | None:
        """The actor MLP's layers in order, or None where :meth:`act` must use RLlib's path."""
        if self.training or self.safety_layer is not None:        # the layer needs RLlib's forward
            return None
        layers = self.__dict__.get("_actor_path")      # a plain attribute: not a submodule, not in the state
        if layers is None:
            layers = self._check_actor_path(obs)
            self.__dict__["_actor_path"] = layers
        return layers or None

    def _check_actor_path(self, obs: torch.Tensor) -> list:
        try:
            actor, head = self.encoder.actor_encoder.net.mlp, self.pi.net.mlp
        except AttributeError:
            return []
        sequential = isinstance(actor, torch.nn.Sequential) and isinstance(head, torch.nn.Sequential)
        dist_cls = self.get_exploration_action_dist_cls()
        if (self.is_stateful() or not sequential or dist_cls not in (TorchDiagGaussian, SquashedDiagGaussian)
                or self.get_inference_action_dist_cls() is not dist_cls):
            return []
        layers = [*actor, *head]
        inputs = obs
        for layer in layers:
            inputs = layer.forward(inputs)
        expected = self.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        if not torch.equal(inputs, expected):
            logger.debug("%s: the flattened actor differs from RLlib's forward; acting through RLlib",
                         type(self).__name__)
            return []
        return layers


def forward_step(module: RLModule, obs: torch.Tensor, explore: bool, state=None):
    """``(dist_inputs [B, 2A], state_out or None)``: one step of ``module``'s ``forward_exploration`` (or
    ``forward_inference``) on observations ``[B, D]``, as RLlib's env runner calls it.

    A recurrent module also takes ``state``, its ``STATE_IN`` for this step (a tree of batch-first tensors,
    ``[B, 1, H]`` per leaf, as :func:`pe_rllib.policies.state.tile` lays out ``get_initial_state()``), and
    returns its ``STATE_OUT``; its observations get the time axis of length 1 RLlib's env runner adds."""
    forward = module.forward_exploration if explore else module.forward_inference
    if state is None:
        return forward({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS], None
    out = forward({Columns.OBS: obs[:, None], Columns.STATE_IN: state})
    return out[Columns.ACTION_DIST_INPUTS][:, 0], out[Columns.STATE_OUT]


def act_through_rllib(module: RLModule, obs: torch.Tensor, explore: bool, state=None):
    """``(actions, logp or None, dist_inputs, state_out or None)`` as RLlib's env runner acts with ``module``
    (not a scripted one); ``actions`` as sampled (see :func:`env_actions` for what the env receives).

    :func:`forward_step` (with ``state`` for a recurrent module), then the module's action distribution:
    sampled when exploring, its deterministic form otherwise.
    """
    with torch.no_grad():
        inputs, state_out = forward_step(module, obs, explore, state)
        dist_cls = module.get_exploration_action_dist_cls() if explore else module.get_inference_action_dist_cls()
        dist = dist_cls.from_logits(inputs)
        if not explore:
            return dist.to_deterministic().sample(), None, inputs, state_out
        actions = dist.sample()
        return actions, dist.logp(actions), inputs, state_out


def scripted_module_spec(experiment: ExperimentConfig, name: str, role: str) -> RLModuleSpec:
    """A scripted policy playing ``role`` as an RLlib module (e.g. the cold-start opponent)."""
    obs_space, act_space = world_spaces(experiment)
    return RLModuleSpec(module_class=ScriptedRLModule, observation_space=obs_space, action_space=act_space,
                        model_config={"policy": name, "role": role, "experiment": to_dict(experiment),
                                      "seed": experiment.training.seed})


class ScriptedRLModule(RLModule):
    """``model_config``: ``policy`` (scripted name), ``role``, ``experiment`` (plain config dict), ``seed``."""

    def setup(self) -> None:
        config = self.model_config
        experiment = from_dict(ExperimentConfig, config["experiment"])
        self.policy = make_world_scripted(config["policy"], config["role"], experiment, seed=config.get("seed", 0))

    def act(self, obs) -> np.ndarray:
        """The scripted policy's actions (float32) for a batch of observations (numpy or torch)."""
        obs = obs.detach().cpu().numpy() if hasattr(obs, "detach") else np.asarray(obs)
        return np.asarray(self.policy.act(obs), np.float32)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTIONS: self.act(batch[Columns.OBS])}

    def _forward_train(self, batch, **kwargs):
        raise NotImplementedError("a scripted module is never trained (keep it out of policies_to_train)")

    def get_state(self, *args, **kwargs):
        return {}

    def set_state(self, state) -> None:
        pass


def anchor_module_spec(experiment: ExperimentConfig, role: str) -> RLModuleSpec:
    """A searched anchor playing ``role``: the role's default controller family, parameters set as its state."""
    obs_space, act_space = world_spaces(experiment)
    return RLModuleSpec(module_class=SearchedRLModule, observation_space=obs_space, action_space=act_space,
                        model_config={"role": role, "experiment": to_dict(experiment),
                                      "seed": experiment.training.seed})


class SearchedRLModule(ScriptedRLModule):
    """A controller of the role's default family (:mod:`pe_rllib.policies.families`) whose parameters are
    the module's state: ``{"params": [P] array}``. The league loads a searched anchor's parameters into it
    like snapshot weights into a slot (learners, runners, checkpoints), so RLlib's set of modules never
    changes. Before any anchor is loaded it plays the family's defaults. Never trained.

    ``model_config``: ``role``, ``experiment`` (plain config dict), ``seed``.
    """

    def setup(self) -> None:
        config = self.model_config
        experiment = from_dict(ExperimentConfig, config["experiment"])
        self.policy = make_family(config["role"], experiment.world_config, seed=config.get("seed", 0))

    def get_state(self, *args, **kwargs):
        # A plain list, not an array: this small state travels inline in Ray's actor calls, which Ray encodes
        # with msgpack, and RLlib 2.60's msgpack checkpoints patch msgpack for the whole process
        # (msgpack_numpy.patch), after which an inline numpy array arrives on a runner as an undecoded dict.
        return {"params": np.asarray(self.policy.params, np.float64).ravel().tolist()}

    def set_state(self, state) -> None:
        if state and "params" in state:
            self.policy.set_params(np.asarray(state["params"], np.float64))
