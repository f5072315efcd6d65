"""Fixtures shared by the test modules."""
import pytest


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory):
    """A $WOO_DATASETS folder for the whole session; the synthetic set is generated there on first use."""
    return str(tmp_path_factory.mktemp("datasets"))


@pytest.fixture
def woo_datasets(datasets_root, monkeypatch):
    """Point $WOO_DATASETS at the session's folder for one test."""
    monkeypatch.setenv("WOO_DATASETS", datasets_root)
    return datasets_root
