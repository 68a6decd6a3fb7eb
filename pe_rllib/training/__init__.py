"""RLlib training: config -> AlgorithmConfig, the self-play algorithm, and the run loop."""
