"""Profiles (issue 24): the store under <data_dir>/profiles/, what the settings start from (environment > active profile
> built-in defaults), broken files, names that must not become paths, reverting, and what a run or a cell keeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import pytest

from evaluation import __main__ as eval_cli
from evaluation import promote
from evaluation.runstore import RunStore, SampleRow, ScreenRow
from ops import profiles
from ops.profiles import ProfileError, ProfileOrigin
from settings import ACTIVE_PROFILE, OPERATOR_FIELDS, PROFILES, Settings
from tests.conftest import REPO
from tests.hostile import PAYLOADS

ORIGIN = ProfileOrigin(kind="evaluation run", ref="run-1", eval_set="sample.jsonl", questions=3,
                       scores={"faithfulness": [0.8, 0.6, 0.95]})


def keep(settings: Settings, name: str = "small-chunks", **values) -> profiles.Profile:
    """Save a profile with these values (default: smaller chunks, top-k 2) and make it active."""
    saved = profiles.save(settings, name, values or {"chunk_size": 300, "top_k": 2}, ORIGIN)
    profiles.activate(settings, name)
    return saved


def test_settings_start_from_the_active_profile_and_the_environment_still_wins(settings, monkeypatch):
    keep(settings)
    assert (Settings().chunk_size, Settings().top_k) == (300, 2)
    assert Settings().active_profile.name == "small-chunks"
    monkeypatch.setenv("FQA_TOP_K", "6")  # the operator's override
    now = Settings()
    assert (now.chunk_size, now.top_k) == (300, 6)
    assert profiles.state(now).overridden == {"top_k": (2, 6)}
    assert Settings(top_k=9).top_k == 9  # arguments (a CLI flag) above all


def test_without_an_active_profile_the_built_in_defaults_apply(settings):
    profiles.save(settings, "kept-not-active", {"top_k": 2}, ORIGIN)
    assert Settings().top_k == Settings.defaults().top_k == 4
    assert Settings().active_profile.name is None and Settings().active_profile.problem is None


def test_revert_goes_back_to_the_defaults_and_keeps_the_profiles(settings):
    keep(settings)
    profiles.revert(settings)
    assert (Settings().chunk_size, Settings().top_k) == (600, 4)
    assert profiles.names(settings) == ["small-chunks"]
    profiles.revert(settings)  # nothing active: still fine
    profiles.activate(settings, "small-chunks")
    assert Settings().top_k == 2


def test_fqa_profile_chooses_a_profile_or_none_whatever_is_active(settings, monkeypatch):
    keep(settings)
    profiles.save(settings, "big", {"chunk_size": 1200}, ORIGIN)
    monkeypatch.setenv("FQA_PROFILE", "big")
    assert (Settings().chunk_size, Settings().top_k, Settings().active_profile.by_environment) == (1200, 4, True)
    monkeypatch.setenv("FQA_PROFILE", "none")
    assert (Settings().chunk_size, Settings().active_profile.name) == (600, None)


BROKEN = {
    "not JSON": ("{not json", "is not readable JSON"),
    "a list": ("[1, 2]", 'has no "settings" object'),
    "settings not an object": ('{"settings": "top_k=2"}', 'has no "settings" object'),
    "an unknown setting": ('{"settings": {"top_kk": 2}}', "sets unknown settings: top_kk"),
    "a secret": ('{"settings": {"openai_api_key": "sk-x"}}', "sets openai_api_key, which only the environment"),
    "an endpoint": ('{"settings": {"openai_base_url": "http://evil.example/v1"}}', "sets openai_base_url"),
    "a folder": ('{"settings": {"data_dir": "/"}}', "sets data_dir"),
    "a wrong type": ('{"settings": {"top_k": "many"}}', "top_k: Input should be a valid integer"),
    "out of range": ('{"settings": {"top_k": 500}}', "top_k: Input should be less than or equal to 50"),
    "invalid together": ('{"settings": {"chunk_size": 60}}', "chunk_overlap (80) must be smaller than chunk_size (60)"),
    "not UTF-8": (b"\xff\xfe{", "is not readable JSON"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_or_wrongly_edited_profile_falls_back_to_the_defaults_with_a_reason(settings, case):
    keep(settings)
    text, reason = BROKEN[case]
    path = settings.data_dir / PROFILES / "small-chunks.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    now = Settings()  # no exception: the defaults, and why
    assert (now.chunk_size, now.top_k) == (600, 4)
    assert "profile 'small-chunks' cannot be used, so the built-in defaults apply" in now.active_profile.problem
    assert reason in now.active_profile.problem
    assert reason in profiles.state(now).problem
    with pytest.raises(ProfileError, match="small-chunks"):
        profiles.activate(settings, "small-chunks")  # cannot be made active again until fixed


def test_a_missing_profile_or_a_broken_marker_falls_back_with_a_reason(settings):
    keep(settings)
    (settings.data_dir / PROFILES / "small-chunks.json").unlink()
    assert "small-chunks.json does not exist" in Settings().active_profile.problem
    marker = settings.data_dir / PROFILES / ACTIVE_PROFILE
    for text, reason in (("nonsense", "does not say which profile is active"),
                         ('{"name": "../../etc/passwd"}', "is not a usable name")):
        marker.write_text(text)
        now = Settings()
        assert now.top_k == 4 and reason in now.active_profile.problem
        assert "the active profile cannot be used" in now.active_profile.problem


def test_a_profile_that_clashes_with_the_environment_is_left_out_not_the_environment(settings, monkeypatch):
    keep(settings)
    monkeypatch.setenv("FQA_CHUNK_OVERLAP", "400")  # valid with the default 600, not with the profile's 300
    now = Settings()
    assert (now.chunk_size, now.chunk_overlap) == (600, 400)
    assert "chunk_overlap (400) must be smaller than chunk_size (300)" in now.active_profile.problem


@pytest.mark.parametrize("name", ["../evil", "a/b", "/tmp/x", ".hidden", "_active", "", "x" * 101, *PAYLOADS[:6]])
def test_a_name_becomes_a_file_only_through_the_identifier_check(settings, tmp_path, monkeypatch, name):
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(ProfileError, match="not a usable name"):
        profiles.save(settings, name, {"top_k": 2}, ORIGIN)
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    monkeypatch.setenv("FQA_PROFILE", name or " ")
    if name.strip():
        assert "not a usable name" in Settings().active_profile.problem


def test_saving_refuses_another_profile_of_the_same_name_unless_asked(settings):
    profiles.save(settings, "mine", {"top_k": 2}, ORIGIN)
    profiles.save(settings, "mine", {"top_k": 2}, ORIGIN)  # the same content again is fine
    with pytest.raises(ProfileError, match="a different profile named 'mine' exists"):
        profiles.save(settings, "mine", {"top_k": 3}, ORIGIN)
    profiles.save(settings, "mine", {"top_k": 3}, ORIGIN, replace=True)
    assert profiles.load(settings, "mine").settings == {"top_k": 3}
    with pytest.raises(ProfileError, match="nothing for a profile to keep"):
        profiles.save(settings, "empty", {}, ORIGIN)
    with pytest.raises(ProfileError, match="only the environment or .env can"):
        profiles.save(settings, "secret", {"openai_api_key": "sk-x"}, ORIGIN)
    with pytest.raises(ProfileError, match="not valid together"):
        profiles.save(settings, "bad", {"top_k": 0}, ORIGIN)
    assert profiles.names(settings) == ["mine"]


def test_a_profile_is_readable_json_without_secrets_or_folders(settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    configured = Settings().with_overrides(top_k=2, grounding_policy="strict", chunk_size=300)
    values = profiles.changed_fields(configured.storable())
    assert values["top_k"] == 2 and values["grounding_policy"] == "strict" and values["chunk_size"] == 300
    assert {"llm_model", "judge_model", "grounding_model"} <= set(values)  # the models are kept even as defaults
    assert not set(values) & OPERATOR_FIELDS and "min_score" not in values  # unchanged fields are not
    profiles.save(settings, "strict", values, ORIGIN)
    text = (settings.data_dir / PROFILES / "strict.json").read_text()
    assert "sk-secret-123" not in text
    data = json.loads(text)
    assert data["name"] == "strict" and data["origin"]["scores"]["faithfulness"] == [0.8, 0.6, 0.95]
    assert data["settings"]["grounding_policy"] == "strict"


def test_every_field_a_run_can_change_is_kept_generically(settings):
    """Any field that is not the operator's, including ones added later, is a profile's to keep when changed."""
    defaults = Settings.defaults().storable()
    changed = {}
    for field, info in Settings.model_fields.items():
        if field in OPERATOR_FIELDS:
            continue
        value = defaults[field]
        if isinstance(value, bool):
            changed[field] = not value
        elif isinstance(value, int):
            changed[field] = value + 1
    values = profiles.changed_fields({**defaults, **changed})
    assert set(changed) <= set(values)


def _screen_and_run(settings: Settings) -> tuple[RunStore, str]:
    """A cheap-first sweep cell (size 300, top-k 2) screened on two questions, one a finalist with a run."""
    runs = RunStore(settings.runs_db)
    cell = settings.with_overrides(chunk_size=300, top_k=2, collection="sample__all-minilm-l6-v2-int8__recursive-300-80")
    group = {"sweep_id": "sweep-abc", "sweep_step": 1, "sweep_name": "size 300 · overlap 80 · top-k 2",
             "overrides": {"chunk_size": 300, "top_k": 2}, "kb_root": "samples/kb"}
    screen = runs.create_screen("sample_large.jsonl", 2, {"collection": cell.collection, "chunk_size": 300,
                                                          "chunk_overlap": 80, "top_k": 2, "settings": cell.storable(),
                                                          **group})
    for idx, found in enumerate((1, None)):
        runs.add_screen_row(screen, ScreenRow(idx=idx, item_id=str(idx), question=f"q{idx}?", reference="x",
                                              answerable=True, kind="answerable", found_rank=found,
                                              best_similarity=0.6, gated=False, contexts=[], seconds=0.01))
    runs.finish_screen(screen)
    run = runs.create_run("sample_large.jsonl", 1, {"metrics": ["faithfulness"], "chunk_size": 300, "chunk_overlap": 80,
                                                    "top_k": 2, "settings": cell.storable(), **group})
    runs.add_sample(run, SampleRow(idx=0, item_id="0", question="q0?", reference="x", answerable=True, kind="answerable",
                                   answer="x", abstained=False, abstain_reason=None, outcome="correct_answer",
                                   contexts=[], error=None, seconds=5.0,
                                   metrics=[{"metric": "faithfulness", "status": "scored", "score": 0.9,
                                             "seconds": 1.0}]))
    runs.finish_run(run)
    return runs, run


def test_a_sweep_cell_keeps_its_chunking_collection_folder_and_scores(settings):
    runs, run_id = _screen_and_run(settings)
    draft = promote.from_sweep_cell(settings, runs, "sweep-abc", 1)
    assert draft.name == "sweep-abc-size300-overlap80-k2"
    assert draft.settings["chunk_size"] == 300 and draft.settings["top_k"] == 2
    assert draft.settings["collection"] == "sample__all-minilm-l6-v2-int8__recursive-300-80"
    assert draft.origin.kind == "sweep cell" and draft.origin.kb == "samples/kb" and draft.origin.questions == 2
    assert draft.origin.scores["reference_found"][0] == 0.5 and draft.origin.scores["faithfulness"][0] == 0.9
    with pytest.raises(ProfileError, match="no cell 7"):
        promote.from_sweep_cell(settings, runs, "sweep-abc", 7)
    run = promote.from_run(settings, runs, runs.run(run_id))
    assert run.origin.kind == "sweep cell" and run.settings == draft.settings


def test_the_cli_keeps_a_cell_lists_uses_and_turns_profiles_off(settings, capsys):
    runs, _ = _screen_and_run(settings)
    assert eval_cli.main(["profile", "keep", "sweep-abc", "--step", "1", "--name", "cli-kept"]) == 0
    assert "profile 'cli-kept' is active (from sweep cell" in capsys.readouterr().out
    assert Settings().top_k == 2
    assert eval_cli.main(["profile", "list"]) == 0
    assert "* cli-kept  from sweep cell “size 300 · overlap 80 · top-k 2” of sweep-abc" in capsys.readouterr().out
    assert eval_cli.main(["profile", "off"]) == 0 and Settings().top_k == 4
    assert eval_cli.main(["profile", "use", "cli-kept"]) == 0 and Settings().top_k == 2
    assert eval_cli.main(["profile", "use", "../x"]) == 2
    assert "not a usable name" in capsys.readouterr().err


def test_the_ingest_cli_starts_from_the_profile_and_says_so(settings, monkeypatch):
    keep(settings, "fine", chunk_size=300, chunk_overlap=40, collection="fine-chunks")
    docs = settings.data_dir / "docs"
    docs.mkdir(parents=True)
    (docs / "a.md").write_text("# A\n\n" + "The Rhine flows through Basel. " * 40)
    monkeypatch.setenv("FQA_INGEST_ROOTS", str(settings.data_dir))
    result = subprocess.run([sys.executable, "-m", "ingest", str(docs)], cwd=REPO, capture_output=True, text=True,
                            env=dict(os.environ), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "profile 'fine' (from evaluation run of run-1" in result.stderr
    assert "collection 'fine-chunks' holds" in result.stdout
    result = subprocess.run([sys.executable, "-m", "ingest", str(docs), "--collection", "plain"], cwd=REPO,
                            capture_output=True, text=True, env={**os.environ, "FQA_PROFILE": "none"},
                            timeout=300)
    assert result.returncode == 0 and "profile" not in result.stderr
