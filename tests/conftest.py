"""Shared fixtures: one headless EGL context for the session, checked for GL errors around each test."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def gl_context():
    from avatar_engine.render.context import headless_context

    ctx = headless_context()
    yield ctx
    ctx.release()


@pytest.fixture
def ctx(gl_context):
    assert gl_context.error == "GL_NO_ERROR"
    yield gl_context
    assert gl_context.error == "GL_NO_ERROR", "the test left a GL error behind"


@pytest.fixture(scope="session")
def template():
    from avatar_engine.head.template import template_avatar

    return template_avatar()
