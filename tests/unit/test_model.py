"""The GAUSS-II model: tokenizer, loss masking, overfitting, checkpoints, LP sampling."""

import numpy as np
import pandas as pd
import pytest
import torch

from gauss import sampling
from gauss.model import GaussVAE, VAEConfig, load_checkpoint, save_checkpoint, vae_loss
from gauss.tokenizer import Tokenizer, TokenizerError, split
from gauss.train import TrainConfig, train

SMALL = ["OCC", "[O-]CC", "n1ccccc1", "NC(C)=O", "[NH-]C(C)=O", "O=C(C)Cl", "OCCBr", "[O-]C(=C)C"]


def test_regex_tokenizer_keeps_atoms_whole():
    assert split("[O-]C(Cl)CBr") == ["[O-]", "C", "(", "Cl", ")", "C", "Br"]
    assert split("C%12CC%12") == ["C", "%12", "C", "C", "%12"]
    assert split("[O-]C", mode="char")[:4] == ["[", "O", "-", "]"]


def test_tokenizer_round_trip_and_errors():
    tok = Tokenizer.fit(SMALL)
    assert tok.tokens[0] == " "
    ids = tok.encode_batch(SMALL)
    assert ids.shape == (len(SMALL), tok.max_len)
    assert tok.decode_batch(ids) == SMALL
    assert [tok.decode(r) for r in ids] == SMALL
    with pytest.raises(TokenizerError, match=r"'OCCI' has tokens outside the vocabulary: \['I'\]"):
        tok.encode("OCCI")
    with pytest.raises(TokenizerError, match="at most"):
        tok.encode("O" + "C" * 40)
    assert Tokenizer.from_dict(tok.to_dict()) == tok


def _model(tok, head="proxy", **kw):
    torch.manual_seed(0)
    return GaussVAE(VAEConfig(vocab_size=tok.size, max_len=tok.max_len, head=head, **kw))


def test_paper_architecture_sizes():
    tok = Tokenizer.fit(SMALL)
    model = _model(tok)
    grus = model.encoder.grus
    assert [g.hidden_size for g in grus] == [128, 96, 32]
    assert all(g.bidirectional for g in grus)
    assert model.decoder.gru1.hidden_size == 128
    assert model.decoder.gru2.hidden_size == tok.size
    assert model.encoder.mu.out_features == 32
    assert model.head[-1].out_features == 4


def test_unlabelled_rows_do_not_train_the_property_head():
    tok = Tokenizer.fit(SMALL)
    model = _model(tok)
    x = torch.from_numpy(tok.encode_batch(SMALL))
    unlabelled = torch.full((len(SMALL), 4), float("nan"))
    loss = vae_loss(model(x), x, unlabelled, 0.01)
    loss.total.backward()
    assert loss.n_labelled == 0
    for p in model.head.parameters():
        assert p.grad is None or torch.count_nonzero(p.grad) == 0
    assert any(torch.count_nonzero(p.grad) > 0 for p in model.encoder.parameters())
    # one labelled entry is enough to reach the head
    model.zero_grad()
    partly = unlabelled.clone()
    partly[0, 0] = 1.0
    vae_loss(model(x), x, partly, 0.01).total.backward()
    assert torch.count_nonzero(model.head[-1].weight.grad) > 0


def test_checkpoint_round_trip_weights_only(tmp_path):
    tok = Tokenizer.fit(SMALL)
    model = _model(tok)
    model.eval()
    path = tmp_path / "m.pt"
    save_checkpoint(
        path,
        model,
        tok,
        ["charge", "dipole", "polarizability", "atomic_number"],
        [0.1, 0.2, 0.3, 7.5],
        [1.0, 2.0, 3.0, 0.5],
        {"note": "test"},
    )
    lm = load_checkpoint(path)
    assert lm.tokenizer == tok and lm.info == {"note": "test"}
    assert lm.model.cfg == model.cfg
    x = torch.from_numpy(tok.encode_batch(SMALL))
    with torch.no_grad():
        assert torch.equal(lm.model(x)["logits"], model(x)["logits"])
    torch.load(path, weights_only=True)  # nothing but tensors and plain data inside
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.slow
def test_tiny_model_overfits_50_smiles(tmp_path):
    df = pd.read_parquet(pytest.importorskip("tests.conftest").QM9_LIGANDS_SAMPLE)
    smiles = df["smiles"].tolist()[:50]
    tok = Tokenizer.fit(smiles)
    torch.manual_seed(0)
    model = GaussVAE(
        VAEConfig(
            tok.size, tok.max_len, head="none", encoder_hidden=(64, 48, 32), decoder_hidden=64
        )
    )
    x = torch.from_numpy(tok.encode_batch(smiles))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    acc = 0.0
    for step in range(3000):
        model.train()
        loss = vae_loss(model(x), x, None, 0.01)
        opt.zero_grad()
        loss.total.backward()
        opt.step()
        if step % 50 == 0:
            model.eval()
            with torch.no_grad():
                acc = float((model(x)["logits"].argmax(-1) == x).all(1).float().mean())
            if acc == 1.0:
                break
    assert acc == 1.0


def _trained(tmp_path, epochs=2):
    df = pd.read_parquet(pytest.importorskip("tests.conftest").QM9_LIGANDS_SAMPLE)
    df = df.assign(charge=np.where(np.arange(len(df)) % 3 == 0, df["heavy_atoms"] * 0.1, np.nan))
    cfg = TrainConfig(max_epochs=epochs, batch_size=50, progress=False)
    summary = train(df, tmp_path, target_names=["charge"], train_cfg=cfg)
    return df, summary


def test_train_writes_checkpoint_metrics_and_resumes(tmp_path):
    df, summary = _trained(tmp_path, epochs=1)
    assert summary["epochs"] == 1
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "val_string_accuracy" in lines[0] and "val_r2" in lines[0]
    lm = load_checkpoint(tmp_path / "model.pt")
    assert lm.target_names == ["charge"] and lm.info["n_labelled_train"] > 0
    # resuming continues from epoch 1 instead of starting over
    cfg = TrainConfig(max_epochs=2, batch_size=50, progress=False)
    again = train(df, tmp_path, target_names=["charge"], train_cfg=cfg)
    assert again["epochs"] == 2
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2


def test_sigma_zero_returns_the_decoded_seed(tmp_path):
    df, _ = _trained(tmp_path, epochs=1)
    lm = load_checkpoint(tmp_path / "model.pt")
    seeds = sampling.encode_smiles(lm, df["smiles"].tolist()[:3])
    expected = sampling.decode_latents(lm, seeds)
    plan = sampling.SamplingPlan(n_per_seed=1, sigmas=(0.0,), steps_per_sigma=1, batch_per_seed=4)
    out = sampling.lp_sample(lm, seeds, plan=plan)
    assert len(out) == 12
    for sid in range(3):
        assert set(out.loc[out.seed_id == sid, "smiles"]) == {expected[sid]}


def test_lp_sampling_flags_and_bad_inputs(tmp_path):
    df, _ = _trained(tmp_path, epochs=1)
    lm = load_checkpoint(tmp_path / "model.pt")
    seeds = sampling.encode_smiles(lm, df["smiles"].tolist()[:2])
    plan = sampling.SamplingPlan(n_per_seed=3, sigmas=(0.5,), steps_per_sigma=2, batch_per_seed=20)
    out = sampling.lp_sample(lm, seeds, known_canonical=set(df["canonical_smiles"]), plan=plan)
    assert list(out.columns) == sampling.COLUMNS
    assert not (out["novel"] & ~out["chem_ok"]).any()
    assert not (out["chem_ok"] & ~out["donor_ok"]).any()
    assert ((out["rejected_by"] != "") == (out["donor_ok"] & ~out["chem_ok"])).all()
    assert not (out["donor_ok"] & ~out["valid"]).any()
    assert not out.loc[out.novel, "canonical_smiles"].isin(set(df["canonical_smiles"])).any()
    uniq = out[out.unique]
    assert uniq["ligand"].is_unique
    assert (uniq.groupby("seed_id").size() <= 3).all()
    with pytest.raises(ValueError, match="non-empty"):
        sampling.lp_sample(lm, np.zeros((0, 32)))
    with pytest.raises(TokenizerError, match="'OCC\\[Se\\]'"):
        sampling.encode_smiles(lm, ["OCC[Se]"])
