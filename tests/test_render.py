"""Pictures, checked as a person looks at them: the right size, not blank, each element's colour where it belongs."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pe_rllib.config import EnvConfig, load_experiment
from pe_rllib.envs.render import CAPTURE_COLOR, COLORS, INTERVENTION_COLOR, ArenaRenderer
from pe_rllib.envs.sensing import lidar

PARTIAL = EnvConfig(observation="partial", arena_width=12.0, arena_height=12.0, n_obstacles=1)
POSE = np.array([[-3.0, -2.0, np.pi / 2], [3.0, 0.0, 0.0]])          # pursuer faces +y, evader +x
OBSTACLES = np.array([[0.5, -4.5, 1.0]])                               # behind both robots
INTERVENTION = np.array([[-4.0, -4.5]])
CAPTURE = np.array([4.5, -4.0])


def rgb(color: str) -> np.ndarray:
    from matplotlib.colors import to_rgb

    return np.round(np.array(to_rgb(color)) * 255)


def pixel(renderer: ArenaRenderer, image: np.ndarray, x: float, y: float) -> tuple[int, int]:
    """Image (row, column) of arena point (x, y)."""
    column, row = renderer.ax.transData.transform((x, y))
    return int(round(image.shape[0] - row)), int(round(column))


def near(renderer, image, point, color: str, radius: int = 4, tolerance: float = 40) -> bool:
    """Some pixel within ``radius`` of the arena point has (about) ``color``."""
    row, column = pixel(renderer, image, *point)
    window = image[row - radius:row + radius + 1, column - radius:column + radius + 1].astype(float)
    return bool((np.abs(window - rgb(color)).max(axis=-1) < tolerance).any())


@pytest.fixture(scope="module")
def drawn():
    renderer = ArenaRenderer(PARTIAL, size_px=480)
    rays = lidar(PARTIAL, POSE[None], OBSTACLES[None])[0]
    full = renderer.frame(POSE, OBSTACLES, title="test", lidar=rays, interventions=[INTERVENTION, np.zeros((0, 2))],
                          capture=CAPTURE)
    bare = renderer.frame(POSE, OBSTACLES, title="test")
    yield renderer, full, bare, rays
    renderer.close()


def test_frame_has_the_requested_size_and_is_not_blank(drawn):
    _, full, _, _ = drawn
    assert full.shape[1] == 480 and full.shape[0] > 480 and full.dtype == np.uint8
    white = (full == 255).all(axis=-1).mean()
    assert 0.5 < white < 0.97                                            # mostly background, clearly drawn on
    assert len(np.unique(full.reshape(-1, 3), axis=0)) > 50


def test_robots_obstacles_interventions_and_capture_sit_where_they_are(drawn):
    renderer, full, bare, _ = drawn
    assert near(renderer, full, POSE[0, :2], COLORS["pursuer"], radius=1)
    assert near(renderer, full, POSE[1, :2], COLORS["evader"], radius=1)
    assert near(renderer, full, OBSTACLES[0, :2], "0.45", radius=1, tolerance=10)
    assert near(renderer, full, INTERVENTION[0], INTERVENTION_COLOR, tolerance=30)
    assert near(renderer, full, CAPTURE, CAPTURE_COLOR, tolerance=30)
    # ... and only there: the bare frame has neither marker at those points.
    assert not near(renderer, bare, INTERVENTION[0], INTERVENTION_COLOR, radius=6, tolerance=60)
    assert not near(renderer, bare, CAPTURE, CAPTURE_COLOR, radius=6, tolerance=60)


def test_field_of_view_tints_in_front_of_the_pursuer_and_not_behind(drawn):
    renderer, full, _, _ = drawn
    ahead = full[pixel(renderer, full, -2.3, 1.2)].astype(int)          # 3.3 m ahead, 12 deg off the heading
    behind = full[pixel(renderer, full, -2.3, -5.0)].astype(int)        # behind both robots
    assert ahead[0] > ahead[1] + 10 and ahead[0] > ahead[2] + 10, ahead  # a red tint over white
    assert (behind == 255).all(), behind


def test_lidar_rays_are_drawn_along_the_rays_only(drawn):
    renderer, full, bare, rays = drawn
    changed = np.argwhere((full.astype(int) - bare.astype(int)).any(axis=-1))
    assert len(changed) > 500
    # Every changed pixel lies on a ray segment (or on the two markers, drawn in the full frame only).
    segments = []
    for i in range(2):
        x, y, theta = POSE[i]
        angles = theta + np.linspace(0, 2 * np.pi, rays.shape[-1], endpoint=False)
        reach = rays[i] * PARTIAL.lidar_range
        for angle, length in zip(angles, reach):
            start = np.array(pixel(renderer, full, x, y), dtype=float)
            end = np.array(pixel(renderer, full, x + length * np.cos(angle), y + length * np.sin(angle)), dtype=float)
            segments.append((start, end))
    markers = [np.array(pixel(renderer, full, *p), dtype=float) for p in (INTERVENTION[0], CAPTURE)]

    def distance(point, start, end):
        direction = end - start
        t = np.clip(np.dot(point - start, direction) / max(np.dot(direction, direction), 1e-9), 0.0, 1.0)
        return np.linalg.norm(point - (start + t * direction))

    stray = [p for p in changed.astype(float)
             if min(distance(p, s, e) for s, e in segments) > 4 and min(np.linalg.norm(p - m) for m in markers) > 14]
    assert len(stray) < 0.01 * len(changed), stray[:5]


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pe_rllib.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_render_cli_writes_png_gif_and_mp4(tmp_path):
    world = ["--config", "quickstart", "--set", "env.observation=partial"]
    png, gif, mp4 = tmp_path / "e.png", tmp_path / "e.gif", tmp_path / "e.mp4"
    for out in (png, gif, mp4):
        result = cli("render", "--pursuer", "pure_pursuit", "--evader", "straight_flee", *world, "--out", str(out),
                     "--max-frames", "40")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"wrote {out}"
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape[1] == 480 and (image != 255).any(axis=-1).mean() > 0.03
    experiment = load_experiment("quickstart", {"env.observation": "partial"})
    assert experiment.env.observation == "partial"
    # seed 0 of this matchup ends in a capture: the star is in the picture
    assert (np.abs(image.astype(float) - rgb(CAPTURE_COLOR)).max(axis=-1) < 30).sum() > 20
    with Image.open(gif) as animation:
        assert animation.n_frames > 10 and animation.size == (480, image.shape[0])
    header = mp4.read_bytes()[:12]
    assert header[4:8] == b"ftyp" and mp4.stat().st_size > 5_000
    assert not list(tmp_path.glob(".*"))                                 # no temporary files left behind


@pytest.mark.parametrize("args, message", [
    (["--out", "x.jpg"], "--out: must end in .gif or .mp4 or .png, got x.jpg"),
    (["--out", "x.png", "--max-frames", "0"], "--max-frames: must be in [1, 10000]"),
    (["--out", "x.png", "--pursuer", "nobody"], "nobody"),
    (["/nonexistent/run", "--out", "x.png"], "/nonexistent/run: no such run or checkpoint directory"),
])
def test_render_bad_input_is_one_line(tmp_path, args, message):
    result = cli("render", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())
