"""Shared fixtures: one Spark session per test session, a temporary lake, the registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lake_assets.registry import SchemaRegistry
from lake_assets.settings import LakeSettings
from lake_assets.storage.object_store import LocalObjectStore

pytest_plugins = [
    "lake_assets_tests.fixtures.seaweed",
    "lake_assets_tests.fixtures.moto",
    "lake_assets_tests.fixtures.databases",
    "lake_assets_tests.fixtures.demo",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        help="rewrite lake_assets_tests/snapshots/ from the code (review the diff before committing it)",
    )


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from lake_assets.transforms.spark_session import build_spark_session

    # With Iceberg's S3 support: the S3 tests share this session (one JVM per test run).
    session = build_spark_session(app_name="lake_assets_tests", s3=True)
    yield session
    session.stop()


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    root.mkdir()
    return root


@pytest.fixture
def local_store(lake_root: Path) -> LocalObjectStore:
    return LocalObjectStore(lake_root)


@pytest.fixture
def settings(lake_root: Path) -> LakeSettings:
    return LakeSettings(env="local", lake_root=str(lake_root))


@pytest.fixture(scope="session")
def registry() -> SchemaRegistry:
    return SchemaRegistry.from_directory()
