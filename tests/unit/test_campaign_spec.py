"""Campaign specs, acquisition policies and the latent-space surrogate."""

import numpy as np
import pytest

from campaigns import acquisition
from campaigns.spec import CampaignSpec, SpecError, load_spec, parse_spec
from campaigns.surrogate import cross_validated_r2, fit_surrogate
from storage.store import CampaignStore


def test_defaults_are_the_paper_settings():
    spec = parse_spec({"name": "demo"})
    assert spec.seeds_per_round == 16 and spec.sampling.samples_per_seed == 10
    assert spec.sampling.sigmas == [0.1, 0.2, 0.3]
    assert spec.initial_size == 1000
    assert spec.calculators.kd == "embedded" and spec.profile == "local"
    assert spec.acquisition.policy == "top-k"


@pytest.mark.parametrize("name", ["../x", "", "x" * 300, "a/b", "Upper", "has space", "x\n"])
def test_bad_campaign_names_are_named(name):
    with pytest.raises(SpecError, match="name: .*invalid campaign name"):
        parse_spec({"name": name})


def test_errors_name_field_and_value():
    with pytest.raises(SpecError) as err:
        parse_spec(
            {
                "name": "ok",
                "seeds_per_round": 0,
                "acquisition": {"policy": "random"},
                "sampling": {"sigmas": [-1]},
                "colour": "blue",
            }
        )
    text = str(err.value)
    assert "seeds_per_round" in text and "(got 0)" in text
    assert "acquisition.policy" in text and "'random'" in text
    assert "sampling.sigmas" in text
    assert "colour" in text


def test_yaml_round_trip_and_errors(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("name: tiny\ninitial_size: 50\nacquisition:\n  policy: ucb\n  beta: 1.5\n")
    spec = load_spec(path)
    assert spec.initial_size == 50 and spec.acquisition.beta == 1.5
    assert spec.spec_hash() == CampaignSpec(**spec.model_dump()).spec_hash()
    assert spec.spec_hash() != parse_spec({"name": "tiny"}).spec_hash()
    store = CampaignStore(tmp_path / "store", spec.name)
    assert store.create(spec.model_dump(mode="json")) == spec.spec_hash() == store.spec_sha256
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec(listy)


def _pool():
    z = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 5.0], [2.0, 2.0]])
    gap = np.array([100.0, 99.0, 50.0, np.nan, 80.0])
    mean = np.array([90.0, 90.0, 60.0, 70.0, 80.0])
    std = np.array([1.0, 1.0, 1.0, 30.0, 1.0])
    return acquisition.Pool(z, gap, mean, std)


def test_policies():
    pool = _pool()
    assert list(acquisition.choose_seeds("top-k", pool, 2)) == [0, 1]
    assert list(acquisition.choose_seeds("ucb", pool, 1, beta=2.0)) == [3]  # 70 + 60
    assert list(acquisition.choose_seeds("diverse-top-k", pool, 3, min_distance=1.0)) == [0, 4, 2]
    with pytest.raises(ValueError, match="unknown acquisition policy 'best'"):
        acquisition.choose_seeds("best", pool, 2)


def test_surrogate_learns_a_smooth_function():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 4))
    y = 100 + 30 * z[:, 0] - 10 * z[:, 1] ** 2 + rng.normal(scale=2, size=200)
    sur = fit_surrogate(z, y)
    mu, sd = sur.predict(z[:5])
    assert np.allclose(mu, y[:5], atol=10) and (sd > 0).all()
    assert cross_validated_r2(z, y) > 0.9
    assert cross_validated_r2(z, rng.normal(size=200)) < 0.2
    with pytest.raises(ValueError, match="at least 2"):
        fit_surrogate(z[:1], y[:1])
