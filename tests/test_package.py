"""The package as a user installs it, and the layering it is built on."""

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_importing_the_config_pulls_in_no_heavy_or_upper_layer():
    code = ("import sys, pe_rllib.config; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'numba', 'pettingzoo', 'gymnasium', "
            "'torch', 'matplotlib', 'cvxpy'})); "
            "print(sorted(m for m in sys.modules if m.startswith('pe_rllib.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "[]"
    loaded = eval(out[1])                                            # the config package and nothing above it
    assert "pe_rllib.config" in loaded and all(m.startswith("pe_rllib.config") for m in loaded)


LAYERS = {               # a module may import only from its own layer or a lower one
    "config": 0, "files": 0, "rundir": 0, "status": 1,
    "envs": 1,
    "safety": 2, "policies": 2, "evaluation": 2, "rendering": 2, "plots": 2, "selfplay": 2,
    "callbacks": 3, "training": 3,
    "cli": 4,
}


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[1]]


def _pe_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pe_rllib."):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("pe_rllib."))
    return names


def test_layers_point_down_and_packages_form_no_cycle():
    package_edges = set()
    for path in sorted((ROOT / "pe_rllib").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module == "pe_rllib" or module.startswith("pe_rllib.tune_configs"):
            continue
        for imported in _pe_imports(path):
            assert _layer(imported) <= _layer(module), f"{module} imports {imported} from a higher layer"
            a, b = module.split(".")[1], imported.split(".")[1]
            if a != b:
                package_edges.add((a, b))
    cycles = {(a, b) for a, b in package_edges if (b, a) in package_edges}
    assert not cycles, f"package import cycles: {sorted(cycles)}"


def test_wheel_holds_every_module_and_the_bundled_experiments(tmp_path):
    """What `pip install .` (or git+URL) installs: every subpackage and the default configs."""
    import shutil

    had_build = (ROOT / "build").exists()
    try:
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                                 "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    finally:
        if not had_build:                          # setuptools builds in the source tree
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("pe_rllib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {str(p.relative_to(ROOT)) for p in (ROOT / "pe_rllib").rglob("*.py") if "__pycache__" not in p.parts}
    assert sources and sources <= names, f"missing from the wheel: {sorted(sources - names)}"
    experiments = {f"pe_rllib/tune_configs/{p.name}" for p in (ROOT / "tune_configs").glob("*.yaml")}
    assert {"pe_rllib/tune_configs/quickstart.yaml"} <= experiments <= names


def test_bundled_experiments_load_from_anywhere(tmp_path):
    code = ("from pe_rllib.config import load_experiment; "
            "e = load_experiment('quickstart'); f = load_experiment('tune_configs/ra1.yaml'); "
            "print(e.training.stop_iterations, f.env.evader_v_max)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.split() == ["200", "1.15"]


def test_safety_wrapper_delegates_to_the_wrapped_step():
    """PettingZoo's wrapper contract: the filter calls the wrapped env's step with the filtered actions."""
    from pettingzoo.utils.wrappers import BaseParallelWrapper

    from pe_rllib.envs import pursuit_evasion_v0
    from pe_rllib.safety import SafetyFilterWrapper

    class Counting(BaseParallelWrapper):
        def __init__(self, env):
            super().__init__(env)
            self.steps, self.last_actions = 0, None

        def step(self, actions):
            self.steps += 1
            self.last_actions = actions
            return self.env.step(actions)

    counting = Counting(pursuit_evasion_v0.parallel_env(n_obstacles=8, max_steps=30))
    env = SafetyFilterWrapper(counting)
    env.reset(seed=3)
    full_speed = {agent: np.array([1.0, 0.0], np.float32) for agent in env.agents}
    corrected = 0
    while env.agents:
        _, _, _, _, infos = env.step(full_speed)
        corrected += infos["pursuer"]["safety_intervened"]
        assert counting.last_actions["pursuer"].shape == (2,)
        changed = not np.allclose(counting.last_actions["pursuer"], full_speed["pursuer"])
        assert changed == infos["pursuer"]["safety_intervened"]
    assert infos["pursuer"].get("outcome") in ("capture", "timeout")        # it ended, and never in a collision


def test_each_agent_owns_its_spaces():
    from pe_rllib.envs import pursuit_evasion_v0

    env = pursuit_evasion_v0.parallel_env()
    assert env.action_space("pursuer") is not env.action_space("evader")
    assert env.observation_space("pursuer") is not env.observation_space("evader")
    assert env.action_space("pursuer") is env.action_space("pursuer")
    env.reset(seed=5)
    assert not np.allclose(env.action_space("pursuer").sample(), env.action_space("evader").sample())


@pytest.mark.parametrize("actions, message", [
    ({"pursuer": [0.0, 0.0]}, "actions: missing entry for evader"),
    ({"pursuer": [[0.0], [0.0]], "evader": [0.0, 0.0]}, "actions['pursuer']: expected shape (2,), got (2, 1)"),
    ({"pursuer": np.array([1j, 0]), "evader": [0.0, 0.0]}, "actions['pursuer']: must be real numbers"),
    ({"pursuer": [0.0, 0.0], "evader": [0.0, 0.0], "cat": [0, 0]}, "actions: unknown agent 'cat'"),
])
def test_bad_actions_are_one_line_errors_through_the_wrapper(actions, message):
    from pe_rllib.envs import pursuit_evasion_v0
    from pe_rllib.safety import SafetyFilterWrapper

    env = SafetyFilterWrapper(pursuit_evasion_v0.parallel_env())
    env.reset(seed=0)
    with pytest.raises(ValueError) as err:
        env.step(actions)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_the_test_suite_uses_its_own_ray_token():
    import os
    import stat

    token = Path(os.environ["RAY_AUTH_TOKEN_PATH"])
    assert token.is_file() and not str(token).startswith(str(Path.home() / ".ray"))
    assert stat.S_IMODE(token.stat().st_mode) == 0o600


def test_importing_the_plotting_modules_selects_no_matplotlib_backend():
    code = ("import sys, pe_rllib.plots, pe_rllib.envs.render, pe_rllib.evaluation.certify_plot, pe_rllib.rendering; "
            "print('matplotlib.pyplot' in sys.modules)")
    env = {**os.environ, "MPLBACKEND": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"


def _code_lines(source: str) -> tuple[ast.Module, set[int]]:
    """The module's AST and its lines of code: no docstrings (module, class, function or attribute),
    comments or blank lines."""
    import io
    import tokenize

    tree = ast.parse(source)
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            docs.update(range(node.lineno, node.end_lineno + 1))
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docs)
    return tree, lines


def test_no_library_module_is_above_350_lines_of_code_and_no_function_above_60():
    too_long = []
    for path in sorted((ROOT / "pe_rllib").rglob("*.py")):
        tree, lines = _code_lines(path.read_text())
        if len(lines) > 350:
            too_long.append(f"{path.relative_to(ROOT)}: {len(lines)} lines of code")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                count = sum(node.lineno <= n <= node.end_lineno for n in lines)
                if count > 60:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {count} lines of code")
    assert not too_long, too_long
