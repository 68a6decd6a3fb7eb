import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "pe_rllib" / "__init__.py").read_text()).group(1)
# `pe-rllib certify` (HJ reach tubes). PyPI's jaxlib wheels are CPU-only (CUDA comes as a separate plugin),
# about 86 MB; measured with hj-reachability 0.7.0, jax/jaxlib 0.10.2, flax 0.12.8.
CERTIFY = ["hj-reachability>=0.7,<0.8", "jax[cpu]>=0.4.25"]

setup(
    name="pe_rllib",
    version=VERSION,
    description="Ray RLlib multi-agent self-play for pursuit-evasion robots with a CBF safety filter",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The experiment YAMLs live in tune_configs/ (where users edit and pass them) and ship inside
    # the package as pe_rllib.tune_configs, so `pe-rllib train` finds them from any directory.
    packages=[*find_packages(include=["pe_rllib", "pe_rllib.*"]), "pe_rllib.tune_configs"],
    package_dir={"pe_rllib.tune_configs": "tune_configs"},
    package_data={"pe_rllib.tune_configs": ["*.yaml"]},
    install_requires=[
        "ray[default,rllib,tune]>=2.60,<2.61",
        "gymnasium>=1.2,<1.3",          # the line RLlib 2.60 pins
        "pettingzoo>=1.24,<2",
        "torch>=2.4",                   # CPU build here via constraints-cpu.txt; CUDA build on GPU hosts
        "cvxpy>=1.5",
        "numpy>=1.26",
        "matplotlib>=3.8",
        "pillow>=10",
        "pyyaml>=6",
        "numba>=0.60",                  # fused sensing kernels (numpy fallback kept as reference)
        "msgpack-numpy>=0.4.8",         # RLlib's msgpack checkpoints: resume without unpickling
    ],
    extras_require={"video": ["imageio-ffmpeg>=0.5"],
                    "certify": CERTIFY,
                    "test": ["pytest>=8", "ruff==0.17.6", "setuptools>=68", "wheel", "imageio-ffmpeg>=0.5", *CERTIFY]},
    entry_points={"console_scripts": ["pe-rllib=pe_rllib.cli:main"]},
)
