"""Does a model do what its prompts say? Direction of travel, and the side of the limb that moves.

For each prompt, ``--num`` samples (DDIM, guidance 2.5, 4 s) are generated. Locomotion prompts: the mean forward
speed (pelvis displacement along the initial facing direction, m/s), against the train clips whose first caption
names only that action. Left/right prompts: how often the named side's wrist or ankle rises higher (above its
first-frame height) than the other side's. Prints two Markdown tables.

Usage: ``python scripts/prompt_probe.py CKPT [--data data/embedded] [--num 16]``
"""

import argparse
import re
from pathlib import Path

import numpy as np

from motion_diffusion import generate
from motion_diffusion.data.humanml3d import load_dataset
from motion_diffusion.generation import load_model
from motion_diffusion.motion.features import features_to_joints
from motion_diffusion.motion.skeleton import FPS, JOINT_INDEX

# prompt, pattern a real clip's caption must match, expected direction of travel (+1 forward, -1 back, 0 none)
PROBES = [
    ("a person walks forward", r"\bwalks forward\b", 1),
    ("a person walks backwards", r"\bwalks backwards?\b", -1),
    ("someone jogs forward", r"\bjogs\b", 1),
    ("someone runs forward quickly", r"\bruns\b", 1),
    ("a person stands still", r"\bstands still\b", 0),
]
# prompt, the joint whose rise is compared between the sides, the side named
SIDE_PROBES = [
    ("a person waves with the left hand", "wrist", "left"),
    ("a person waves with the right hand", "wrist", "right"),
    ("a person raises the left arm", "wrist", "left"),
    ("a person raises the right arm", "wrist", "right"),
    ("a person kicks with the left leg", "ankle", "left"),
    ("a person kicks with the right leg", "ankle", "right"),
]
COMPOUND = re.compile(r"\b(then|while|and|after)\b")
MOVING = 0.1  # m/s, a sample travels if its forward speed exceeds this in the expected direction


def forward_speed(joints: np.ndarray, fps: float = FPS) -> float:
    """Pelvis displacement along the initial facing direction per second (m/s) of joints (T, 22, 3), Y-up."""
    across = joints[0, JOINT_INDEX["left_hip"], [0, 2]] - joints[0, JOINT_INDEX["right_hip"], [0, 2]]
    facing = np.array([-across[1], across[0]]) / (np.linalg.norm(across) + 1e-9)
    travel = joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]
    return float(travel @ facing) * fps / (len(joints) - 1)


def rise(joints: np.ndarray, joint: str) -> float:
    """Highest height of a joint above its first-frame height (m), joints (T, 22, 3) Y-up."""
    index = JOINT_INDEX[joint]
    return float(joints[:, index, 1].max() - joints[0, index, 1])


def real_speeds(data: Path, pattern: str) -> np.ndarray:
    speeds = []
    for entry in load_dataset(data, "train").entries:
        caption = entry.captions[0].text
        if re.search(pattern, caption) and not COMPOUND.search(caption):
            speeds.append(forward_speed(features_to_joints(entry.features)))
    return np.array(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ckpt")
    parser.add_argument("--data", default="data/embedded")
    parser.add_argument("--num", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = load_model(args.ckpt)
    print("| prompt | generated speed (m/s) | moving the right way | real clips | real speed (m/s) |")
    print("|---|---|---|---|---|")
    for prompt, pattern, direction in PROBES:
        motions = generate(model, [prompt] * args.num, 4 * FPS, seed=args.seed)
        speeds = np.array([forward_speed(np.asarray(m.joints)) for m in motions])
        right = np.mean(np.abs(speeds) < MOVING) if direction == 0 else np.mean(direction * speeds > MOVING)
        real = real_speeds(Path(args.data), pattern)
        print(
            f"| {prompt} | {speeds.mean():+.2f} ± {speeds.std():.2f} | {right:.0%} | {len(real)} "
            f"| {real.mean():+.2f} ± {real.std():.2f} |"
        )
    print("\n| prompt | named side rises higher | rise of named / other side (m) |")
    print("|---|---|---|")
    for prompt, part, side in SIDE_PROBES:
        other = "right" if side == "left" else "left"
        motions = generate(model, [prompt] * args.num, 4 * FPS, seed=args.seed)
        named = np.array([rise(np.asarray(m.joints), f"{side}_{part}") for m in motions])
        opposite = np.array([rise(np.asarray(m.joints), f"{other}_{part}") for m in motions])
        print(f"| {prompt} | {np.mean(named > opposite):.0%} | {named.mean():.2f} / {opposite.mean():.2f} |")


if __name__ == "__main__":
    main()
