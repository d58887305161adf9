"""Shared fixtures: one tiny demo workspace (tiny universe, tiny random backbone, 40 epochs), built once per session."""
from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ctl_core.config import Workspace

os.environ.setdefault("OMP_NUM_THREADS", "2")

TINY_SIZE = 60


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for servers the tests start)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo_ws(tmp_path_factory) -> "Workspace":
    """A complete tiny workspace: universe → dataset → features → 5 models → evaluation → indices.

    Read-only for tests: copy it (``demo_ws_copy``) before changing anything.
    """
    from ctl_core.config import Workspace
    from ctl_core.workflows.demo import DemoConfig, build_demo

    ws = Workspace.at(tmp_path_factory.mktemp("demo_ws"))
    build_demo(ws, DemoConfig(size=TINY_SIZE, seed=0, backbone="tiny-cnn", epochs=40), say=lambda m: None)
    return ws


@pytest.fixture
def demo_ws_copy(demo_ws, tmp_path) -> "Workspace":
    from ctl_core.config import Workspace
    dst = tmp_path / "ws"
    shutil.copytree(demo_ws.root, dst)
    return Workspace.at(dst)
