"""Container operations at the Content level: subset, merge, split; identical decode of kept videos."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tascodec.container.content import Content
from tascodec.errors import UsageError
from helpers import make_subset_content, reference_frames
from tascodec.subsetting import (activities_of, content_sequences, merge_contents, safe_file_name, split_by_activity,
                             subset_content)


def per_video(c: Content) -> dict:
    """Each video's segment rows, codes and decoded frames, keyed by name."""
    out = {}
    ro = c.row_offsets()
    for v, name in enumerate(c.videos):
        a, b = int(c.video_segments[v]), int(c.video_segments[v + 1])
        rows = None if c.codes is None else c.codes[ro[a]:ro[b]].tobytes()
        scale = None if c.code_scale is None else c.code_scale[ro[a]:ro[b]].tobytes()
        out[name] = (c.seg_label[a:b].tolist(), c.seg_length[a:b].tolist(), c.seg_instances[a:b].tolist(),
                     rows, scale, None if c.activities is None else c.activities[v])
    return out


def check_valid(c: Content) -> None:
    from tascodec.container.checks import check_content

    check_content(c)


cases = st.sampled_from([dict(), dict(codes_dtype="float16"), dict(codes_dtype="int8"), dict(random=True),
                         dict(kind="repeat")])


@settings(max_examples=40, deadline=None)
@given(cases, st.integers(0, 1000), st.integers(1, 9), st.data())
def test_subset_keeps_rows_and_decode(opts, seed, V, data):
    c = make_subset_content(seed, videos=V, **opts)
    keep = data.draw(st.lists(st.integers(0, V - 1), unique=True, max_size=V))
    sub = subset_content(c, keep, operation={"strategy": "diverse"})
    check_valid(sub)
    assert sub.videos == [c.videos[i] for i in keep]
    before, after = per_video(c), per_video(sub)
    assert after == {c.videos[i]: before[c.videos[i]] for i in keep}
    for j, i in enumerate(keep):
        assert np.array_equal(reference_frames(sub, j), reference_frames(c, i))  # bit-identical frames
    assert sub.decoder.sha256() == c.decoder.sha256()
    op = sub.provenance["operations"][-1]
    assert op == {"op": "subset", "strategy": "diverse", "videos": len(keep), "source_videos": V}
    assert "operations" not in c.provenance  # the input is untouched


@settings(max_examples=40, deadline=None)
@given(cases, st.integers(0, 1000), st.integers(1, 9), st.data())
def test_subset_then_merge_round_trips(opts, seed, V, data):
    c = make_subset_content(seed, videos=V, **opts)
    keep = data.draw(st.lists(st.integers(0, V - 1), unique=True, min_size=1, max_size=V))
    rest = [i for i in range(V) if i not in keep]
    parts = [subset_content(c, keep)] + ([subset_content(c, rest)] if rest else [])
    merged = merge_contents(parts)
    check_valid(merged)
    assert sorted(merged.videos) == sorted(c.videos)
    assert per_video(merged) == per_video(c)
    back = subset_content(merged, [merged.videos.index(v) for v in c.videos])
    for v in range(V):
        assert np.array_equal(reference_frames(back, v), reference_frames(c, v))
    assert merged.provenance["dataset"] == "toy" and merged.provenance["operations"][0]["op"] == "merge"
    assert [i["videos"] for i in merged.provenance["operations"][0]["inputs"]] == [len(p.videos) for p in parts]


def test_merge_refuses_incompatible_inputs():
    a = make_subset_content(0, prefix="a")
    ok = make_subset_content(1, prefix="b")
    assert len(merge_contents([a, ok], ["A.tasz", "B.tasz"]).videos) == 12
    cases = [
        (make_subset_content(1, prefix="b", decoder_seed=5), "different decoder (same architecture, different weights"),
        (make_subset_content(1, prefix="b", H=7), "hidden 7, not 6"),
        (make_subset_content(1, prefix="b", kind="repeat"), "kind 'repeat', not 'mlp'"),
        (make_subset_content(1, prefix="b", codes_dtype="int8"), "int8 codes, not float32 (merge does not requantize"),
        (make_subset_content(1, prefix="b", random=True), "random codes where the first has stored ones"),
        (make_subset_content(1, prefix="a"), "video names repeat: 'a0' (A.tasz and B.tasz)"),
        (make_subset_content(1, prefix="b", background=()), "different background classes"),
    ]
    for other, msg in cases:
        with pytest.raises(UsageError, match="cannot merge") as e:
            merge_contents([a, other], ["A.tasz", "B.tasz"])
        assert msg in str(e.value) and "B.tasz" in str(e.value), str(e.value)
    renamed = make_subset_content(1, prefix="b")
    renamed.vocab = ["c0", "c1", "x", "c3", "c4"]
    with pytest.raises(UsageError, match=r"vocab\[2\] is 'x', not 'c2'"):
        merge_contents([a, renamed], ["A.tasz", "B.tasz"])
    r1, r2 = make_subset_content(0, prefix="a", random=True), make_subset_content(1, prefix="b", random=True)
    r2.random_seed = 12
    with pytest.raises(UsageError, match="seed 12, not 11"):
        merge_contents([r1, r2])
    with pytest.raises(UsageError):
        merge_contents([])


def test_merge_activities_and_provenance():
    a = make_subset_content(0, prefix="a", activities=False)
    b = make_subset_content(1, prefix="b")
    b.provenance["dataset"] = "other"
    m = merge_contents([a, b], ["x/A.tasz", "B.tasz"])
    assert m.activities == [None] * 6 + b.activities
    assert "dataset" not in m.provenance and m.provenance["method"] == "inversion"
    inputs = m.provenance["operations"][0]["inputs"]
    assert [i["name"] for i in inputs] == ["A.tasz", "B.tasz"] and inputs[1]["provenance"]["dataset"] == "other"
    assert merge_contents([a, make_subset_content(2, prefix="c", activities=False)]).activities is None


def test_split_by_activity():
    c = make_subset_content(3, videos=7)
    parts = split_by_activity(c)
    assert list(parts) == ["a0", "a1", "a2"]
    assert [p.videos for p in parts.values()] == [["v0", "v3", "v6"], ["v1", "v4"], ["v2", "v5"]]
    for p in parts.values():
        check_valid(p)
        assert p.provenance["operations"][-1]["op"] == "split"
    assert per_video(merge_contents(list(parts.values()))) == per_video(c)
    by_name = split_by_activity(c, pattern=r"v(\d)")
    assert sorted(by_name) == [str(i) for i in range(7)]
    c.activities[4] = None
    with pytest.raises(UsageError, match="no activity is stored for 1 video.*v4"):
        split_by_activity(c)
    with pytest.raises(UsageError, match="does not match"):
        split_by_activity(c, pattern=r"w(\d)")
    with pytest.raises(UsageError, match="not a valid regex"):
        activities_of(c, "(")


def test_subset_content_rejects_bad_indices():
    c = make_subset_content(0)
    for keep in ([6], [-1], [1, 1]):
        with pytest.raises(UsageError):
            subset_content(c, keep)
    empty = subset_content(c, [])
    assert empty.videos == [] and empty.codes.shape == (0, 3)


def test_content_sequences_drop_background():
    c = make_subset_content(0, videos=1)
    c.video_segments = np.array([0, 5])
    c.seg_label = np.array([0, 2, 0, 2, 3], np.int32)
    c.seg_length = c.seg_instances = np.ones(5, np.int32)
    assert content_sequences(c) == [[2, 3]]
    assert content_sequences(c, keep_background=True) == [[0, 2, 0, 2, 3]]


def test_safe_file_name():
    assert safe_file_name("P03 cereals/x") == "P03_cereals_x"
    assert safe_file_name("..hidden") == "hidden"
    assert safe_file_name("***") == "_"
