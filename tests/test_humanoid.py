"""The generated MuJoCo humanoid: structure, sizes, coordinates, contacts, the stored XML and bad input."""

import mujoco
import numpy as np
import pytest

from motion_diffusion.motion.skeleton import BONE_LENGTHS, JOINT_NAMES, NUM_JOINTS
from physics_correct import humanoid


@pytest.fixture(scope="module")
def model():
    return humanoid.load_humanoid()


def _rest_data(model):
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    return data


def test_structure(model):
    bodies = [model.body(b).name for b in range(1, model.nbody)]
    assert [b for b in bodies if b in humanoid.BODY_NAMES] == list(humanoid.BODY_NAMES)
    assert len(humanoid.BODY_NAMES) == 24 and set(JOINT_NAMES) <= set(humanoid.BODY_NAMES)
    assert (model.nq, model.nv) == (7 + 69, 6 + 69)
    assert model.nu == 69 + len(humanoid.ASSIST_ACTUATORS)
    assert model.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    assert model.opt.timestep == pytest.approx(1 / 240)
    hinges = model.jnt_type == mujoco.mjtJoint.mjJNT_HINGE
    assert hinges.sum() == 69 and np.all(model.jnt_limited[hinges])
    # Every hinge is driven by a position actuator with a torque limit and kv = kp / 10 (the legs: kp / 20).
    ids = humanoid.hinge_actuator_ids(model)
    kp, kv = model.actuator_gainprm[ids, 0], -model.actuator_biasprm[ids, 2]
    leg = np.array([model.actuator(i).name.split("_")[1] in humanoid.LEG_KINDS for i in ids])
    assert leg.sum() == 18 and np.all(kp > 0)
    assert np.allclose(kv[~leg], kp[~leg] * humanoid.KV_OVER_KP)
    assert np.allclose(kv[leg], kp[leg] * humanoid.LEG_KV_OVER_KP)
    assert np.all(model.actuator_forcelimited[ids]) and np.all(model.actuator_forcerange[ids, 1] > 0)


def test_twist_hinge_is_along_the_bone(model):
    """The middle hinge of each body with a child joint points along the bone to that child."""
    for name in JOINT_NAMES[1:]:
        children = [c for c in JOINT_NAMES if humanoid.body_parent(c) == name]
        if len(children) != 1:
            continue
        bone = model.body(children[0]).pos / np.linalg.norm(model.body(children[0]).pos)
        jnt = model.body(name).jntadr[0]
        alignment = np.abs(model.jnt_axis[jnt : jnt + 3] @ bone)
        assert np.argmax(alignment) == 1, name


def test_bone_lengths_match_the_humanml3d_skeleton(model):
    for j, name in enumerate(JOINT_NAMES[1:], start=1):
        assert np.linalg.norm(model.body(name).pos) == pytest.approx(BONE_LENGTHS[j], abs=1e-6), name
    longer = BONE_LENGTHS * 1.1
    scaled = humanoid.load_humanoid(bone_lengths=longer)
    assert np.linalg.norm(scaled.body("left_knee").pos) == pytest.approx(longer[JOINT_NAMES.index("left_knee")])


def test_mass_and_standing_height(model):
    assert humanoid.total_mass(model) == pytest.approx(humanoid.DEFAULT_MASS, rel=1e-3)
    assert humanoid.total_mass(humanoid.load_humanoid(mass=60.0)) == pytest.approx(60.0, rel=1e-3)
    data = _rest_data(model)
    ids = humanoid.joint_body_ids(model)
    pelvis, head = data.xpos[ids[0], 2], data.xpos[ids[JOINT_NAMES.index("head")], 2]
    assert 0.9 < pelvis < 1.05 and 1.5 < head < 1.7
    # The lowest geom touches the floor, and the lower toe joint sits SOLE_OFFSET above it.
    lowest = min(
        data.geom_xpos[g, 2] - model.geom_size[g, 0]
        for g in range(model.ngeom)
        if model.geom_bodyid[g] != 0 and model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE
    )
    assert lowest == pytest.approx(0.0, abs=2e-3)
    toes = data.xpos[ids[[JOINT_NAMES.index("left_foot"), JOINT_NAMES.index("right_foot")]], 2]
    assert toes.min() == pytest.approx(humanoid.SOLE_OFFSET, abs=2e-3)
    # Feet are made of capsules or spheres only (MJX treats boxes as meshes).
    foot_bodies = [model.body(n).id for n in ("left_ankle", "left_foot", "right_ankle", "right_foot")]
    foot_types = {int(model.geom_type[g]) for g in range(model.ngeom) if model.geom_bodyid[g] in foot_bodies}
    assert foot_types <= {int(mujoco.mjtGeom.mjGEOM_CAPSULE), int(mujoco.mjtGeom.mjGEOM_SPHERE)}


def test_coordinate_conversion():
    points = np.random.default_rng(0).normal(size=(5, 3))
    assert np.allclose(humanoid.from_mujoco(humanoid.to_mujoco(points)), points)
    # Y-up (x left, y up, z forward) -> Z-up: up stays up, forward is -y, left is +x; a proper rotation.
    basis = humanoid.to_mujoco(np.eye(3))
    assert np.allclose(basis, [[1, 0, 0], [0, 0, 1], [0, -1, 0]])
    assert np.linalg.det(basis) == pytest.approx(1.0)


def test_the_model_faces_minus_y_in_mujoco(model):
    """In the rest pose the toes are ahead of the ankles along HumanML3D's forward (+z), i.e. MuJoCo's -y."""
    data = _rest_data(model)
    ids = humanoid.joint_body_ids(model)
    for ankle, toe in (("left_ankle", "left_foot"), ("right_ankle", "right_foot")):
        step = data.xpos[ids[JOINT_NAMES.index(toe)]] - data.xpos[ids[JOINT_NAMES.index(ankle)]]
        assert step[1] < -0.1
    left, right = data.xpos[ids[JOINT_NAMES.index("left_hip")]], data.xpos[ids[JOINT_NAMES.index("right_hip")]]
    assert left[0] > right[0]


def _collides(model, g1, g2) -> bool:
    return bool(
        (model.geom_contype[g1] & model.geom_conaffinity[g2]) or (model.geom_contype[g2] & model.geom_conaffinity[g1])
    )


def test_contacts(model):
    """Every body touches the floor and nothing else (see the module docstring); contacts are stiff."""
    floor = model.geom("floor").id
    body_geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] != 0]
    assert all(_collides(model, floor, g) for g in body_geoms)
    assert not any(_collides(model, a, b) for a in body_geoms for b in body_geoms)
    floor_friction = model.geom_friction[floor, 0]
    assert floor_friction == pytest.approx(humanoid.FLOOR_FRICTION)
    assert np.allclose(model.geom_solref[:, 0], humanoid.CONTACT_TIMESTEPS * model.opt.timestep)


def test_root_assist_pulls_the_pelvis_toward_its_target_within_the_cap():
    model = humanoid.load_humanoid()
    data = _rest_data(model)
    ids = humanoid.assist_actuator_ids(model)
    target = model.body("assist_pos").mocapid[0]
    cap = humanoid.ASSIST_FORCE_CAP * humanoid.total_mass(model) * 9.81
    for lift, expected in ((0.01, humanoid.ASSIST_KP_FORCE * 0.01), (0.5, cap)):
        data.mocap_pos[target] = data.xpos[model.body("pelvis").id] + [0.0, 0.0, lift]
        mujoco.mj_forward(model, data)
        assert data.actuator_force[ids[2]] == pytest.approx(expected, rel=1e-3)
        assert np.allclose(data.actuator_force[ids[[0, 1]]], 0.0, atol=1e-6)
    # A yaw offset of the orientation target gives a restoring torque about z, capped too.
    rot = model.body("assist_rot").mocapid[0]
    data.mocap_pos[:] = data.xpos[model.body("pelvis").id]
    data.mocap_quat[rot] = [np.cos(0.05), 0.0, 0.0, np.sin(0.05)]  # 0.1 rad about z
    mujoco.mj_forward(model, data)
    assert data.actuator_force[ids[5]] == pytest.approx(humanoid.ASSIST_KP_TORQUE * 0.1, rel=1e-2)


def test_assist_caps(model):
    humanoid.set_assist_caps(model, 0.2, 50.0)
    ids = humanoid.assist_actuator_ids(model)
    weight = humanoid.total_mass(model) * 9.81
    assert np.allclose(model.actuator_forcerange[ids[:3], 1], 0.2 * weight)
    assert np.allclose(model.actuator_forcerange[ids[3:], 1], 50.0)
    humanoid.set_assist_caps(model)
    with pytest.raises(ValueError, match="assist caps"):
        humanoid.set_assist_caps(model, -1.0, 10.0)


def test_timestep_is_configurable():
    model = mujoco.MjModel.from_xml_string(humanoid.build_humanoid_xml(timestep=1 / 480))
    assert model.opt.timestep == pytest.approx(1 / 480)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(bone_lengths=np.ones(5)), "bone_lengths must have shape"),
        (dict(bone_lengths=np.where(np.arange(NUM_JOINTS) == 4, np.nan, BONE_LENGTHS)), "finite and positive"),
        (dict(bone_lengths=-BONE_LENGTHS), "finite and positive"),
        (dict(timestep=0.05), "timestep"),
        (dict(mass=0.0), "mass"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        humanoid.build_humanoid_xml(**kwargs)


def test_stored_xml_is_up_to_date():
    """assets/humanoid.xml is what the generator writes (regenerate: python -m physics_correct.humanoid)."""
    assert humanoid.HUMANOID_XML.read_text() == humanoid.build_humanoid_xml()


def test_command_line_writes_a_loadable_model(tmp_path):
    out = tmp_path / "h.xml"
    humanoid.main(["--out", str(out), "--timestep", str(1 / 200)])
    model = mujoco.MjModel.from_xml_path(str(out))
    assert model.opt.timestep == pytest.approx(1 / 200) and model.nbody == humanoid.load_humanoid().nbody


def test_smpl_shapes_need_the_extra_or_the_files(tmp_path):
    with pytest.raises(ValueError, match="smpl"):
        humanoid.smpl_bone_lengths(tmp_path / "missing", np.zeros(10))
