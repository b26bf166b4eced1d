"""Atomic writes leave recognisable temporaries when killed; a resumed job removes them; folder locks."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from motion_diffusion.motion.files import (
    atomic_folder,
    atomic_open,
    exclusive_folder,
    remove_stale_temporaries,
    write_text,
)


def _killed_mid_write(tmp_path, body: str) -> None:
    """Run ``body`` in a child that SIGKILLs itself inside the atomic block (as a killed job would)."""
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from motion_diffusion.motion.files import atomic_folder, atomic_open
        root = Path({str(tmp_path)!r})
        {body}
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()


def test_a_killed_write_leaves_a_temporary_that_cleanup_removes(tmp_path):
    write_text(tmp_path / "keep.json", "{}")
    (tmp_path / "sub").mkdir()
    write_text(tmp_path / "sub" / ".hidden_but_ours", "x")  # dot files that are no temporaries stay
    _killed_mid_write(
        tmp_path,
        "with atomic_open(root / 'sub' / 'run.json', 'w') as f:\n"
        "            f.write('half'); f.flush(); os.kill(os.getpid(), signal.SIGKILL)",
    )
    _killed_mid_write(
        tmp_path,
        "with atomic_folder(root / 'ckpt') as tmp:\n"
        "            (tmp / 'w.bin').write_bytes(b'1'); os.kill(os.getpid(), signal.SIGKILL)",
    )
    leftovers = sorted(p.name for p in tmp_path.rglob(".*.tmp"))
    assert len(leftovers) == 2 and leftovers[0].startswith(".ckpt.") and leftovers[1].startswith(".run.json.")
    assert remove_stale_temporaries(tmp_path) == 2
    assert not list(tmp_path.rglob(".*.tmp"))
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "keep.json",
        "sub",
        "sub/.hidden_but_ours",
    ]
    assert remove_stale_temporaries(tmp_path / "missing") == 0


def test_a_failed_block_leaves_nothing_and_keeps_the_old_target(tmp_path):
    write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "a.txt", "w") as f:
        f.write("new")
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "folder") as tmp:
        (tmp / "x").write_text("y")
        raise RuntimeError("boom")
    assert (tmp_path / "a.txt").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


def test_a_locked_folder_refuses_a_second_writer(tmp_path):
    with exclusive_folder(tmp_path / "run", "self-consuming loop"):
        with pytest.raises(ValueError, match="being written by another self-consuming loop"):
            with exclusive_folder(tmp_path / "run", "self-consuming loop"):
                pass
    with exclusive_folder(tmp_path / "run", "self-consuming loop"):  # released when the holder ends
        pass
