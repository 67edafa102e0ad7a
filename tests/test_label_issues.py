import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelnoise.clean import CleanResult
from labelnoise.label_issues import label_issues_table, write_link_trees


@pytest.fixture
def originals(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    paths = []
    for i in range(6):
        path = folder / f"img{i}.png"
        Image.fromarray(np.full((4, 4, 3), i * 40, np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _inputs(paths):
    index = pd.DataFrame({"id": np.arange(10, 16), "source": paths})
    given = np.array([0, 0, 1, 1, 0, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.7, 0.3], [0.6, 0.4], [0.4, 0.6]])
    scores = 1.0 - probs[np.arange(6), given]
    results = {
        "cleanlab": CleanResult(scores, scores > 0.5, 2 / 6),
        "consensus": CleanResult(scores * 2, scores > 0.5, 2 / 6),
    }
    return index, given, probs, results


def test_label_issues_are_ranked_most_suspect_first(originals):
    index, given, probs, results = _inputs(originals)
    flipped = np.array([0, 1, 0, 1, 0, 0], bool)
    table = label_issues_table(
        index, given, probs, results, class_names=["cat", "dog"], flipped=flipped
    )
    assert list(table["rank"]) == [1, 2, 3, 4, 5, 6]
    assert set(table["id"][:2]) == {11, 13}  # the two flips top the list
    assert table["injected_flip"][:2].all()
    assert list(table.loc[table["id"] == 11, "predicted_label"]) == ["dog"]
    assert list(table.loc[table["id"] == 11, "given_label"]) == ["cat"]
    assert {"cleanlab_suspicion", "cleanlab_flag", "consensus_suspicion"} <= set(table.columns)


def test_label_issues_speak_cleanlabs_columns_and_direction(originals):
    index, given, probs, results = _inputs(originals)
    table = label_issues_table(index, given, probs, results, class_names=["cat", "dog"])
    assert list(table.columns[:8]) == [
        "rank",
        "id",
        "path",
        "is_label_issue",
        "label_score",
        "given_label",
        "predicted_label",
        "predicted_prob",
    ]
    # Lower label_score = more likely mislabelled, as in cleanlab; the flags are the ranking
    # method's.
    assert table["label_score"].is_monotonic_increasing
    assert table["label_score"].between(0, 1).all()
    assert list(table["is_label_issue"]) == list(table["consensus_flag"])
    assert table["is_label_issue"][:2].all() and not table["is_label_issue"][2:].any()
    order = np.argsort(-table["consensus_suspicion"].to_numpy(), kind="stable")
    assert list(order) == list(range(6))


def test_unknown_rank_method_is_refused(originals):
    index, given, probs, results = _inputs(originals)
    with pytest.raises(ValueError, match="cannot rank by 'aum'"):
        label_issues_table(index, given, probs, results, class_names=["a", "b"], rank_by="aum")


def test_link_trees_point_at_untouched_originals(originals, tmp_path):
    before = {p: (open(p, "rb").read(), os.stat(p).st_mtime_ns) for p in originals}
    index, given, probs, results = _inputs(originals)
    table = label_issues_table(index, given, probs, results, class_names=["cat", "dog"])
    counts = write_link_trees(table, tmp_path / "out", flag_column="consensus_flag", imported=True)
    assert counts == {"cleaned": 4, "flagged": 2}
    flagged = sorted((tmp_path / "out" / "flagged").rglob("*.png"))
    assert len(flagged) == 2
    for link in flagged:
        assert any(os.path.samefile(link, p) for p in originals)
    assert {p: (open(p, "rb").read(), os.stat(p).st_mtime_ns) for p in originals} == before


def test_links_command_names_a_flag_column_the_issues_file_lacks(originals, tmp_path):
    import shutil
    from pathlib import Path

    from labelnoise.label_issues import main

    index, given, probs, results = _inputs(originals)
    table = label_issues_table(index, given, probs, results, class_names=["cat", "dog"])
    table.drop(columns=["consensus_flag"]).to_csv(tmp_path / "label_issues.csv", index=False)
    shutil.copy(Path(__file__).parents[1] / "params.yaml", tmp_path)  # results.method: consensus
    with pytest.raises(ValueError, match="consensus_flag"):
        main(
            [
                "--issues",
                str(tmp_path / "label_issues.csv"),
                "--params",
                str(tmp_path / "params.yaml"),
            ]
        )
