"""Small numpy rotation helpers. Quaternions are w-first ``(w, x, y, z)``; all functions broadcast.

Rotation matrices act on column vectors (``R @ v``); the 6D form is the first two columns of the
matrix, column 0 then column 1, as in HumanML3D's ``quaternion_to_cont6d``.
"""

from __future__ import annotations

import numpy as np

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` (rotate by ``b`` first, then by ``a``)."""
    aw, av = a[..., :1], a[..., 1:]
    bw, bv = b[..., :1], b[..., 1:]
    w = aw * bw - np.sum(av * bv, axis=-1, keepdims=True)
    v = aw * bv + bw * av + np.cross(av, bv)
    return np.concatenate([w, v], axis=-1)


def qinv(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion (its conjugate)."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4)."""
    w, u = q[..., :1], q[..., 1:]
    uv = np.cross(u, v)
    return v + 2.0 * (w * uv + np.cross(u, uv))


def qbetween(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shortest-arc unit quaternion (w >= 0) rotating direction ``u`` onto direction ``v``.

    For opposite directions the half turn is taken about an axis perpendicular to ``u``.
    """
    u, v = np.broadcast_arrays(np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64))
    scale = np.sqrt(np.sum(u * u, axis=-1) * np.sum(v * v, axis=-1))
    q = np.concatenate([(scale + np.sum(u * v, axis=-1))[..., None], np.cross(u, v)], axis=-1)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    opposite = norm[..., 0] <= 1e-9 * scale
    if opposite.any():
        uo = u[opposite]
        helper = np.eye(3)[np.argmin(np.abs(uo), axis=-1)]  # the axis least aligned with u
        axis = np.cross(uo, helper)
        q[opposite] = np.concatenate([np.zeros((len(uo), 1)), axis], axis=-1)
        norm[opposite] = np.linalg.norm(axis, axis=-1, keepdims=True)
    return q / norm


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) to rotation matrices (..., 3, 3)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def matrix_to_cont6d(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) to the 6D form (..., 6): column 0, then column 1."""
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def cont6d_to_matrix(c: np.ndarray) -> np.ndarray:
    """6D form (..., 6) to rotation matrices (..., 3, 3) by Gram-Schmidt on the two stored columns."""
    x = c[..., :3] / np.linalg.norm(c[..., :3], axis=-1, keepdims=True)
    z = np.cross(x, c[..., 3:])
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)
