"""The review round-trip: suspects out for a labelling tool, verdicts back in as labels."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from data.test_importer import make_tree, snapshot

from labelnoise.data.importer import import_dataset
from labelnoise.data.reviewed import apply_review, read_reviewed
from labelnoise.data.store import load_dataset, save_dataset
from labelnoise.review import export_review, review_summary

KW = dict(
    kind="folder",
    image_size=8,
    val_fraction=0.2,
    test_fraction=0.2,
    workers=1,
    progress=False,
    seed=0,
)


def _verdicts(path, rows, columns="path,label,sample"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(columns + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def test_reads_a_file_or_a_folder_and_skips_rows_without_a_verdict(tmp_path):
    folder = tmp_path / "reviewed"
    _verdicts(folder / "a.csv", [("img/1.png", "cat", "suspect"), ("img/2.png", "", "random")])
    _verdicts(folder / "b.csv", [("img/3.png", "dog", "random"), ("img/1.png", "cat", "")])
    (folder / "README.md").write_text("not read")
    table = read_reviewed(folder)
    assert list(table["path"]) == [str(folder / "img" / n) for n in ("1.png", "3.png")]
    assert list(table["label"]) == ["cat", "dog"] and list(table["sample"]) == ["suspect", "random"]
    assert len(read_reviewed(folder / "b.csv")) == 2
    (tmp_path / "empty").mkdir()
    assert read_reviewed(tmp_path / "empty").empty  # a folder of no CSV: nothing reviewed


@pytest.mark.parametrize(
    "rows, columns, match",
    [
        ([("a.png", "cat")], "path,verdict", "missing columns label"),
        ([("a.png", "cat", "sometimes")], "path,label,sample", "unknown sample 'sometimes'"),
        ([("a.png", "cat", "maybe")], "path,label,flagged", "flagged must be true/false"),
        ([("a.png", "cat"), ("a.png", "dog")], "path,label", "different labels"),
        ([("", "cat")], "path,label", "empty path"),
    ],
)
def test_bad_verdicts_are_named(tmp_path, rows, columns, match):
    path = _verdicts(tmp_path / "v.csv", rows, columns)
    with pytest.raises(ValueError, match=match):
        read_reviewed(path)
    with pytest.raises(ValueError, match="neither a CSV file nor a folder"):
        read_reviewed(tmp_path / "missing.csv")


def test_a_verdict_for_an_unknown_image_or_class_is_refused(tmp_path):
    entries = pd.DataFrame({"path": ["/x/a.png"], "label_name": ["cat"], "split": ["train"]})
    unknown = pd.DataFrame(
        {"path": ["/x/b.png"], "label": ["cat"], "sample": [""], "flagged": [pd.NA], "where": ["f"]}
    )
    with pytest.raises(ValueError, match="not in data.path"):
        apply_review(entries, unknown, ["cat", "dog"])
    with pytest.raises(ValueError, match="not classes"):
        apply_review(entries, unknown.assign(path="/x/a.png", label="cow"), ["cat", "dog"])


def test_reviewed_labels_replace_the_given_ones_and_stay_out_of_test(tmp_path):
    paths = make_tree(tmp_path / "data", per_class=10, split=None)
    before = snapshot(paths)
    cats = [p for p in paths if p.parent.name == "cat"]
    dog = next(p for p in paths if p.parent.name == "dog")
    # Four cats were really dogs; a cat and a dog were confirmed at random (the calibration
    # sample, which needs every class).
    rows = [(p, "dog", "suspect") for p in cats[:4]] + [(cats[4], "cat", "random")]
    reviewed = read_reviewed(_verdicts(tmp_path / "v.csv", rows))
    with pytest.raises(ValueError, match=r"no image of class\(es\) \['dog'\]"):
        import_dataset(tmp_path / "data", reviewed=reviewed, **KW)
    rows.append((dog, "dog", "random"))
    reviewed = read_reviewed(_verdicts(tmp_path / "v.csv", rows))
    ds, _ = import_dataset(tmp_path / "data", reviewed=reviewed, **KW)
    source = ds.index.set_index("source")
    assert (source.loc[[str(p) for p in cats[:4]], "label_name"] == "dog").all()
    assert (source.loc[[str(p) for p in cats[4:]], "label_name"] == "cat").all()
    # Without a val/ folder the random sample is the trusted split; the suspects train.
    assert set(source.loc[[str(cats[4]), str(dog)], "split"]) == {"val"}
    assert set(source.loc[[str(p) for p in cats[:4]], "split"]) == {"train"}
    assert ds.meta["split_origin"]["val"] == "reviewed" and ds.trusted_val
    assert (ds.index["split"] == "val").sum() == 2  # nothing carved beside them
    assert len(ds.reviewed) == 6 and sorted(ds.reviewed["original_label"]) == ["cat"] * 5 + ["dog"]
    assert ds.reviewed_rows("train").sum() == 4
    save_dataset(ds, tmp_path / "out")
    back = load_dataset(tmp_path / "out")
    pd.testing.assert_frame_equal(back.reviewed, ds.reviewed, check_dtype=False)
    assert snapshot(paths) == before


def test_with_a_val_folder_every_reviewed_image_stays_in_train(tmp_path):
    paths = make_tree(tmp_path / "data", per_class=8, split="train")
    make_tree(tmp_path / "data", per_class=3, split="val")
    rows = [(p, "dog", "random") for p in paths[:3]]
    ds, _ = import_dataset(
        tmp_path / "data", reviewed=read_reviewed(_verdicts(tmp_path / "v.csv", rows)), **KW
    )
    assert set(ds.index.set_index("source").loc[[str(p) for p in paths[:3]], "split"]) == {"train"}
    assert ds.meta["split_origin"]["val"] == "given"
    ds, _ = import_dataset(tmp_path / "data", **KW)
    assert ds.reviewed.empty and not ds.reviewed_rows("train").any()


def _issues(n=40):
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "rank": np.arange(1, n + 1),
            "id": rng.permutation(n),
            "path": [f"/photos/{i}.jpg" for i in range(n)],
            "is_label_issue": np.arange(n) < 8,
            "given_label": np.where(np.arange(n) % 2, "cat", "dog"),
            "predicted_label": "cat",
            "predicted_prob": np.linspace(0.99, 0.5, n),
        }
    )


def test_export_writes_suspects_a_random_sample_and_label_studio_tasks(tmp_path):
    issues = _issues()
    rows = export_review(
        issues, out=tmp_path / "review", class_names=["cat", "dog"], top=5, random=4, seed=0,
        reviewed_ids=issues["id"].to_numpy()[:2],
    )  # fmt: skip
    suspects = rows[rows["sample"] == "suspect"]
    assert list(suspects["rank"]) == [3, 4, 5, 6, 7]  # the two reviewed ones are not asked again
    drawn = rows[rows["sample"] == "random"]
    assert len(drawn) == 4 and (drawn["rank"] > 7).all()
    assert set(drawn["given_label"]) == {"cat", "dog"}  # every class, for the trusted split
    assert (rows["label"] == "").all()  # the reviewer fills it in
    written = pd.read_csv(tmp_path / "review" / "review.csv", keep_default_na=False)
    assert list(written["path"]) == list(rows["path"])
    tasks = json.loads((tmp_path / "review" / "tasks.json").read_text())
    assert len(tasks) == 9
    first = tasks[0]
    assert first["data"]["image"] == "/data/local-files/?d=" + rows["path"][0].split("/photos/")[1]
    choice = first["predictions"][0]["result"][0]
    assert choice["from_name"] == "label" and choice["value"]["choices"] == ["cat"]
    config = ET.fromstring((tmp_path / "review" / "label_config.xml").read_text())
    assert [c.get("value") for c in config.iter("Choice")] == ["cat", "dog"]
    with pytest.raises(ValueError, match="not both 0"):
        export_review(issues, out=tmp_path / "r2", class_names=["cat"], top=0, random=0, seed=0)


def test_export_of_generated_images_writes_previews(tmp_path):
    issues = _issues(10)
    images = np.zeros((10, 4, 4, 3), np.uint8)
    rows = export_review(
        issues, out=tmp_path / "review", images=images, class_names=["cat", "dog"], top=3,
        random=0, seed=0,
    )  # fmt: skip
    assert all(
        p.endswith(".png") and (tmp_path / "review" / "images").is_dir() for p in rows["path"]
    )
    assert len(list((tmp_path / "review" / "images").iterdir())) == 3


def test_summary_gives_flag_precision_and_the_folder_noise_rate():
    reviewed = pd.DataFrame(
        {
            "original_label": ["cat"] * 10,
            "label": ["dog"] * 6 + ["cat"] * 4,
            "sample": ["suspect"] * 8 + ["random"] * 2,
            "flagged": pd.array([True] * 8 + [False, pd.NA], dtype="boolean"),
        }
    )
    summary = review_summary(reviewed)
    assert summary["n_reviewed"] == 10 and summary["n_corrected"] == 6
    assert summary["flag_precision"]["share"] == pytest.approx(6 / 8)
    assert summary["flag_precision"]["low"] < 0.75 < summary["flag_precision"]["high"]
    assert summary["noise_rate"]["share"] == 0.0 and summary["noise_rate"]["n"] == 2
    assert summary["by_sample"]["suspect"] == {"n": 8, "corrected": 6}
    none = review_summary(reviewed.assign(sample="", flagged=pd.NA))
    assert none["flag_precision"] is None and none["noise_rate"] is None
