"""Replay: recorded responses stand in for the model, keyed by the full request; every miss is named."""

from __future__ import annotations

import json

import pytest

from toolkit.cost.replay import FORMAT, Recording, Replay, replay_into, replayed, request_key, request_of
from toolkit.errors import ReplayError
from toolkit.models import ModelClient, ModelRef
from toolkit.models.calls import ModelCall
from toolkit.models.extractive import ExtractiveLLM
from toolkit.prompting import rag_messages

CONTEXT = [("returns.md", "You can return an item within 30 days of delivery for a full refund.")]
QUESTION = "How long do I have to return an item?"


@pytest.fixture
def llm(embed_model):
    return ExtractiveLLM.from_embed_model(embed_model)


def ask(client, question=QUESTION, context=CONTEXT, system=None):
    messages = rag_messages(question, context)
    if system is not None:
        messages[0].content = system
    return client.chat(messages, kind="llm", question=question, context=context)


def test_a_recorded_reply_is_served_without_calling_the_model(llm, tmp_path):
    recording = Recording(tmp_path / "replay.json")
    recorder = Replay(recording, record=True)
    first = ask(ModelClient(llm, "extractive", [recorder]))
    assert first.text == "You can return an item within 30 days of delivery for a full refund."
    assert (recorder.hits, len(recorder.misses), len(recording)) == (0, 1, 1)  # recording: a miss, then stored
    recording.save()

    class Unreachable:  # the same model's parameters, but any call to it fails the test
        min_similarity = 0.35

        def chat(self, messages):
            raise AssertionError("the model was called")

    replay = Replay(Recording.load(tmp_path / "replay.json"))
    again = ask(ModelClient(Unreachable(), "extractive", [replay]))
    assert (again.text, replay.hits, replay.misses) == (first.text, 1, [])
    assert again.parts == {"replay": {"hit": True}}


def test_the_key_is_the_whole_request_and_a_model_path_is_its_file_name(llm):
    made = ModelCall(rag_messages(QUESTION, CONTEXT), llm, ModelRef.parse("extractive"), "llm", max_output_tokens=64)
    request = request_of(made)
    assert request["kind"] == "llm" and request["model"] == "extractive:quote"
    assert request["params"] == {"min_similarity": 0.35, "max_output_tokens": 64}
    assert [role for role, _ in request["messages"]] == ["system", "user"]
    assert request_key(request) != request_key({**request, "params": {**request["params"], "max_output_tokens": 65}})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            dict(system="Answer in French."),
            "the system prompt changed: removed 'You are a customer support assistant.', 'the question using only the context.",
        ),
        (
            dict(context=[("returns.md", "You can return an item within 14 days.")]),
            "the retrieved context changed: the text shown from returns.md differs (the corpus changed, or another chunk",
        ),
        (
            dict(context=CONTEXT + [("faq.md", "No restocking fee.")]),
            "the retrieved context changed: sources returns.md -> returns.md, faq.md",
        ),
        (dict(question="How long is the warranty?"), "no recorded request asks 'How long is the warranty?'"),
    ],
)
def test_a_miss_raises_and_names_what_changed(llm, tmp_path, change, named):
    recording = Recording(tmp_path / "replay.json")
    ask(ModelClient(llm, "extractive", [Replay(recording, record=True)]))
    replay = Replay(recording)
    with pytest.raises(ReplayError, match="so the model was not called") as caught:
        ask(ModelClient(llm, "extractive", [replay]), **change)
    assert named in str(caught.value)
    assert [m.changed for m in caught.value.misses] == [m.changed for m in replay.misses]
    assert named in replay.misses[0].changed


def test_a_changed_sampling_parameter_is_named(llm, embed_model, tmp_path):
    recording = Recording(tmp_path / "replay.json")
    ask(ModelClient(llm, "extractive", [Replay(recording, record=True)]))
    stricter = ExtractiveLLM.from_embed_model(embed_model, min_similarity=0.5)
    with pytest.raises(ReplayError, match=r"sampling parameters: min_similarity 0.35 -> 0.5"):
        ask(ModelClient(stricter, "extractive", [Replay(recording)]))


def test_on_miss_call_asks_the_model_and_still_lists_the_miss(llm, tmp_path):
    replay = Replay(Recording(tmp_path / "replay.json"), on_miss="call")
    reply = ask(ModelClient(llm, "extractive", [replay]))
    assert reply.text.startswith("You can return an item within 30 days")
    assert len(replay.misses) == 1 and len(replay.recording) == 0  # not recorded: record=False
    assert reply.parts["replay"] == {"hit": False}


def test_a_missing_or_corrupt_recording_is_refused(tmp_path):
    with pytest.raises(ReplayError, match=r"no replay recording at .*absent.json; record it again with --record"):
        Recording.load(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "toolkit-replay/1", "entries": {', encoding="utf-8")
    with pytest.raises(ReplayError, match="is corrupt"):
        Recording.load(bad)
    bad.write_text(json.dumps({"format": "other/9", "entries": {}}), encoding="utf-8")
    with pytest.raises(ReplayError, match="is not a replay recording in format toolkit-replay/1"):
        Recording.load(bad)
    tampered = {"format": FORMAT, "entries": {"0" * 32: {"request": {"kind": "llm"}, "reply": {"text": "x"}}}}
    bad.write_text(json.dumps(tampered), encoding="utf-8")
    with pytest.raises(ReplayError, match="entry 000000000000 does not match"):
        Recording.load(bad)


def test_replay_into_puts_the_replay_last_in_a_pipelines_chain(llm, tmp_path):
    class Holder:  # what replay_into needs of a pipeline: its model client
        client = ModelClient(llm, "extractive", [Replay(Recording(tmp_path / "first.json"), record=True)])

    pipeline = Holder()
    recording = Recording(tmp_path / "replay.json")
    replay = replay_into(pipeline, recording, record=True)
    assert pipeline.client.middleware[-1] is replay and len(pipeline.client.middleware) == 2
    ask(pipeline.client)
    assert (replay.hits, len(replay.misses), len(recording)) == (0, 1, 1)


def test_replayed_records_on_request_then_serves_and_leaves_the_chain_as_it_found_it(llm, tmp_path, monkeypatch):
    class Holder:  # what replayed needs of a pipeline: its model client
        def __init__(self):
            self.client = ModelClient(llm, "extractive", [])

    path, pipeline = tmp_path / "replay.json", Holder()
    monkeypatch.setenv("TOOLKIT_RECORD", "1")
    with replayed(path, pipeline) as done:
        ask(pipeline.client)
        ask(pipeline.client, "Can I return it?")
        assert not path.exists()  # saved only when the block ends
    assert (done.hits, len(done.misses), done.record, done.note) == (0, 2, True, "")
    assert len(Recording.load(path)) == 2 and pipeline.client.middleware == []

    monkeypatch.delenv("TOOLKIT_RECORD")
    other = Holder()
    with replayed(path, pipeline, other) as done:
        ask(pipeline.client)
        ask(other.client, "Can I return it?")
        ask(other.client, "Is shipping free?")  # not recorded: the model answers
    assert str(done) == "2 replies replayed, 1 asked of the model"
    assert done.note == "model replies replayed from the recording, so the latency is not the model's"
    assert len(Recording.load(path)) == 2 and pipeline.client.middleware == other.client.middleware == []


def test_replayed_saves_nothing_when_its_block_fails(llm, tmp_path):
    class Holder:
        client = ModelClient(llm, "extractive", [])

    with pytest.raises(RuntimeError), replayed(tmp_path / "replay.json", Holder(), record=True):
        ask(Holder.client)
        raise RuntimeError("the run broke halfway")
    assert not (tmp_path / "replay.json").exists() and Holder.client.middleware == []


def test_blocks_sharing_one_recording_each_save_what_they_added(llm, tmp_path):
    class Holder:
        client = ModelClient(llm, "extractive", [])

    path = tmp_path / "replay.json"
    recording = Recording.open(path, record=True)
    with replayed(recording, Holder(), record=True):
        ask(Holder.client)
    with replayed(recording, Holder(), record=True):
        ask(Holder.client, "Can I return it?")
    assert len(Recording.load(path)) == 2  # the second save kept the first block's reply
    with replayed(Recording.open(path, record=False), Holder(), record=False) as replay:
        ask(Holder.client)
        ask(Holder.client, "Can I return it?")
    assert str(replay) == "2 replies replayed, 0 asked of the model"
