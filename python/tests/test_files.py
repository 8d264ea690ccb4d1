"""Model files: saved and read back, pickled, and packed exports."""

import pickle

import numpy as np

import sbn


def test_save_and_load_round_trip(fitted, split, tmp_path):
    _, _, Xt, yt = split
    path = tmp_path / "m.sbn"
    fitted.save(path)
    back = sbn.load(path)
    assert list(back.classes_) == list(fitted.classes_)
    assert back.history_ == fitted.history_
    assert back.model_.spec == fitted.model_.spec
    np.testing.assert_array_equal(back.predict_proba(Xt, seed=3), fitted.predict_proba(Xt, seed=3))
    assert back.evaluate(Xt, yt) == fitted.evaluate(Xt, yt)
    # Saving what was read writes the same bytes.
    again = tmp_path / "again.sbn"
    back.save(again)
    assert again.read_bytes() == path.read_bytes()


def test_pickle_round_trip(fitted, split):
    _, _, Xt, _ = split
    back = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(back.predict_proba(Xt), fitted.predict_proba(Xt))
    assert back.get_params() == fitted.get_params()


def test_packed_export_predicts_with_one_network(fitted, split, tmp_path):
    _, _, Xt, yt = split
    path = tmp_path / "m.packed"
    fitted.export_packed(path)
    packed = sbn.load(path)
    assert packed.model_.is_packed and packed.model_.spec is None
    assert list(packed.classes_) == list(fitted.classes_)
    # One network: the weight samples do not apply; noise samples and seed do.
    a = packed.predict_proba(Xt, weight_samples=1, seed=1)
    np.testing.assert_array_equal(a, packed.predict_proba(Xt, weight_samples=8, seed=1))
    assert not np.array_equal(a, packed.predict_proba(Xt, weight_samples=1, seed=2))
    assert np.mean(packed.predict(Xt) == yt) > 0.7
    # A sampled network is another network.
    fitted.export_packed(tmp_path / "s.packed", sample_seed=3)
    assert (tmp_path / "s.packed").read_bytes() != path.read_bytes()
