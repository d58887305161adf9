"""App-test settings: AppTest reads no command line, so pin the server address the app checks to loopback (what
.streamlit/config.toml sets when pytest runs from the repository root), wherever pytest is started from."""
from __future__ import annotations

import pytest
from streamlit import config


@pytest.fixture(autouse=True)
def loopback_server_address():
    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield
    config.set_option("server.address", before)
