"""The pipeline with the real embedding model and the real local LLM, over the tiny corpus."""

from __future__ import annotations

import jinja2
import pytest

from conftest import ASK_JSON_KEYS, TINY_CORPUS, write_files
from toolkit.config import load_settings
from toolkit.errors import ConfigError, PromptTooLongError, ToolkitError
from toolkit.evaluation.answers import answer_correct
from toolkit.ingestion.incremental import ingest
from toolkit.pipeline import Answer, Pipeline, RunRecord
from toolkit.prompting.spec import SYSTEM_PROMPT, rag_messages
from toolkit.steps import MIN_CONTEXT_TOKENS, TEMPLATE_OVERHEAD

RETURNS = "How long do I have to return an item?"
PLUG = "How much does the Plug Mini cost?"
MODEL = "local:SmolLM2-135M-Instruct.Q4_1"
EMPTY = "the question is empty; ask something about the indexed documents"


@pytest.fixture(scope="module")
def index(tmp_path_factory, embed_model):
    root = tmp_path_factory.mktemp("pipeline")
    corpus = write_files(root / "corpus", TINY_CORPUS)
    settings = load_settings(home=root / "home")
    index, report = ingest(corpus, root / "index", settings=settings, embed_model=embed_model, show_progress=False)
    assert report.chunks == 4  # one chunk per file
    return index


@pytest.fixture
def pipeline(index, embed_model, llm, toolkit_home):
    return Pipeline(index, settings=load_settings(), embed_model=embed_model, llm=llm)


def rendered_prompt_tokens(llm, question: str, context: list[tuple[str, str]]) -> int:
    """Tokens of the prompt as llama.cpp renders it: the GGUF's own chat template, then its tokenizer."""
    template = jinja2.Template(llm._llama.metadata["tokenizer.chat_template"])
    prompt = template.render(
        messages=[{"role": m.role.value, "content": m.content} for m in rag_messages(question, context)],
        add_generation_prompt=True,
    )
    return len(llm._llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))


def test_ask_answers_with_cited_sources_and_a_full_record(pipeline, llm):
    answer = pipeline.ask(RETURNS)
    assert isinstance(answer, Answer)
    assert answer.question == RETURNS
    assert answer_correct(answer.text, "30 days", ["thirty days"], True), answer.text

    # one source per document, ids are the relative paths, best first
    ids = [s.id for s in answer.sources]
    assert ids[0] == "returns.md"
    assert len(ids) == 3 and len(set(ids)) == 3
    assert set(ids) <= set(TINY_CORPUS)
    scores = [s.score for s in answer.sources]
    assert scores == sorted(scores, reverse=True)
    assert answer.sources[0].text == "# Returns\n\nYou can return an item within 30 days of delivery for a full refund."

    r = answer.record
    assert isinstance(r, RunRecord)
    assert (r.question, r.answer, r.model, r.error) == (RETURNS, answer.text, MODEL, "")
    assert r.sources == ids
    assert r.context_chunks == 3
    # input tokens are what llama.cpp reports, which is the rendered chat prompt, token for token
    context = [(s.id, s.text) for s in answer.sources]  # one chunk per file: the context is these three
    assert r.input_tokens == rendered_prompt_tokens(llm, RETURNS, context)
    assert r.input_tokens > sum(llm.count_tokens(text) for _, text in context)
    assert r.output_tokens == llm.count_tokens(answer.text)
    assert 1 <= r.output_tokens <= 64
    assert r.cost_usd == 0.0
    assert r.compute_s == round(r.generate_s, 4)
    assert r.compute_s > 0
    assert 0 < r.retrieve_s < r.total_s and 0 < r.generate_s < r.total_s
    assert len(r.run_id) == 12
    assert pipeline.records == [r]

    d = answer.to_dict()
    assert list(d) == ASK_JSON_KEYS
    assert (d["confidence"], d["decision"], d["tier"], d["tiers_tried"]) == (None,) * 4  # no scores, no tiers
    assert d["sources"] == [{"id": s.id, "score": round(s.score, 4)} for s in answer.sources]
    assert (d["input_tokens"], d["output_tokens"], d["cost_usd"], d["latency_s"]) == (
        r.input_tokens,
        r.output_tokens,
        0.0,
        round(r.total_s, 3),
    )


def test_answers_are_deterministic(pipeline):
    first, second = pipeline.ask(PLUG), pipeline.ask(PLUG)
    assert first.text == second.text
    assert "$24.99" in first.text
    assert first.record.input_tokens == second.record.input_tokens
    assert first.record.output_tokens == second.record.output_tokens
    assert [s.id for s in first.sources] == [s.id for s in second.sources]
    assert first.sources[0].id == "products/plug.html"


def test_empty_question_is_refused(pipeline):
    for question in ["", "   \n\t"]:
        with pytest.raises(ToolkitError) as info:
            pipeline.ask(question)
        assert type(info.value) is ToolkitError
        assert str(info.value) == EMPTY
    assert [r.error for r in pipeline.records] == [f"ToolkitError: {EMPTY}"] * 2
    assert [r.input_tokens for r in pipeline.records] == [0, 0]


def test_question_longer_than_the_window(pipeline, llm):
    # window 2048 - 64 output - 32 template overhead = 1952 tokens of budget; a question must
    # leave 128 of them for context: 1824 for the system prompt and the question together.
    assert (TEMPLATE_OVERHEAD, MIN_CONTEXT_TOKENS) == (32, 128)
    room = 1824 - llm.count_tokens(SYSTEM_PROMPT)  # 1777 with the system prompt of this writing (47 tokens)
    question = "Please tell me about the return policy " + "and the warranty " * 600 + "?"
    assert llm.count_tokens(question) > room
    with pytest.raises(PromptTooLongError) as info:
        pipeline.ask(question)
    assert str(info.value) == (
        f"the question is too long for this model: its 2048-token window leaves room for about {room} tokens "
        f"of question; shorten the question or configure a model with a larger context_window"
    )
    [record] = pipeline.records
    assert record.error.startswith("PromptTooLongError: the question is too long")
    assert record.input_tokens == 0 and record.answer == ""


def test_a_batch_keeps_going_and_runs_has_one_row_per_ask(pipeline):
    questions = [RETURNS, "", "word " * 3000, PLUG]
    answers = [pipeline.ask(q, raise_errors=False) for q in questions]
    assert [bool(a.text) for a in answers] == [True, False, False, True]
    assert answers[1].record.error == f"ToolkitError: {EMPTY}"
    assert answers[2].record.error.startswith("PromptTooLongError: the question is too long")
    assert answers[2].sources != []  # retrieval ran before the prompt was found too long
    assert str(answers[1]).startswith(f"(no answer: ToolkitError: {EMPTY})")

    runs = pipeline.runs()
    assert list(runs.columns) == [
        "run_id",
        "timestamp",
        "question",
        "answer",
        "model",
        "sources",
        "context_chunks",
        "context_sources",
        "retrieve_s",
        "generate_s",
        "total_s",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "compute_s",
        "error",
        "calls",
        "prompt.spec_version",
    ]
    assert len(runs) == 4
    assert list(runs.question) == questions
    assert list(runs.error == "") == [True, False, False, True]
    assert list(runs.answer) == [a.text for a in answers]
    assert list(runs.cost_usd) == [0.0] * 4
    assert runs.run_id.is_unique


def test_runs_of_a_new_pipeline_is_an_empty_frame_with_the_columns(pipeline):
    runs = pipeline.runs()
    assert len(runs) == 0
    assert list(runs.columns) == [f for f in RunRecord.__dataclass_fields__ if f != "parts"]


def test_a_model_without_a_price_is_refused_up_front(index, embed_model, llm):
    with pytest.raises(ConfigError, match=r"^no price for 'openai-like:my-model'"):
        Pipeline(index, settings=load_settings(), embed_model=embed_model, llm=llm, model="openai-like:my-model")


def test_a_price_table_of_your_own_adds_rows(index, embed_model, llm, toolkit_home):
    (toolkit_home / "prices.csv").parent.mkdir(parents=True, exist_ok=True)
    (toolkit_home / "prices.csv").write_text(
        "provider,model,input_per_mtok,output_per_mtok,cached_input_per_mtok,effective_date,source\n"
        "openai-like,my-model,1.00,2.00,0.50,2026-11-27,our own server\n",
        encoding="utf-8",
    )
    pipeline = Pipeline(index, settings=load_settings(), embed_model=embed_model, llm=llm, model="openai-like:my-model")
    answer = pipeline.ask(PLUG)
    r = answer.record
    assert r.model == "openai-like:my-model"
    assert r.cost_usd == round((r.input_tokens * 1.00 + r.output_tokens * 2.00) / 1e6, 10)


def test_a_foreign_llm_object_needs_its_model_name(index, embed_model):
    class SomeProviderLLM:  # stands for any LlamaIndex LLM the toolkit did not build
        pass

    with pytest.raises(ToolkitError, match=r"needs model='provider:name' too"):
        Pipeline(index, settings=load_settings(), embed_model=embed_model, llm=SomeProviderLLM())


def test_open_checks_the_embedding_model(index, tmp_path):
    with pytest.raises(ToolkitError) as info:
        Pipeline.open(index.path, settings=load_settings(embed="ollama:nomic-embed-text"))
    assert str(info.value) == (
        "the index was embedded with local:all-MiniLM-L6-v2, but the settings name "
        "ollama:nomic-embed-text; set embed to match, or ingest again"
    )


def test_open_an_index_folder(index, embed_model, llm):
    pipeline = Pipeline.open(index.path, settings=load_settings(top_k=1), embed_model=embed_model, llm=llm)
    hits = pipeline.retrieve(PLUG)
    assert [h.node.ref_doc_id for h in hits] == ["products/plug.html"]


def questions_frame():
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "id": "t1",
                "question": RETURNS,
                "answer": "30 days",
                "aliases": ["thirty days"],
                "sources": ["returns.md"],
                "category": "policy",
                "difficulty": "easy",
                "answerable": True,
            },
            {
                "id": "t2",
                "question": "How long does express shipping take?",
                "answer": "1 business day",
                "aliases": [],
                "sources": ["shipping.txt"],
                "category": "policy",
                "difficulty": "easy",
                "answerable": True,
            },
            {
                "id": "t3",
                "question": "Who founded the company?",
                "answer": "",
                "aliases": [],
                "sources": [],
                "category": "unanswerable",
                "difficulty": "hard",
                "answerable": False,
            },
        ]
    )


def test_evaluate_retrieval(pipeline):
    from toolkit.evaluation.answers import evaluate_retrieval

    results = evaluate_retrieval(pipeline, questions_frame(), ks=(1, 3))
    assert list(results.columns) == ["id", "category", "difficulty", "retrieved", "hit@1", "hit@3"]
    assert list(results.id) == ["t1", "t2"]  # unanswerable questions have no gold document
    assert [r[0] for r in results.retrieved] == ["returns.md", "shipping.txt"]
    assert all(len(r) == 3 for r in results.retrieved)
    assert list(results["hit@1"]) == [True, True] and list(results["hit@3"]) == [True, True]
    assert pipeline.records == []  # retrieval alone is not a run


def test_evaluate_answers(pipeline):
    from toolkit.evaluation.answers import evaluate_answers, is_abstention

    results = evaluate_answers(pipeline, questions_frame().iloc[[0, 2]])
    assert list(results.columns) == [
        "id",
        "category",
        "difficulty",
        "answerable",
        "question",
        "gold",
        "answer",
        "correct",
        "hit",
        "seen_hit",
        "abstained",
        "action",
        "original_correct",
        "cache_hit",
        "latency_s",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "error",
        "calls",
        "signals",
        "confidence",
        "decision",
        "draft_correct",
    ]
    first, unanswerable = results.iloc[0], results.iloc[1]
    assert (first.id, first.correct, first.hit, first.seen_hit, first.error) == ("t1", True, True, True, "")
    assert (first.action, first.cache_hit, first.original_correct) == ("", "", True)
    assert [c["kind"] for c in first.calls] == ["llm"]
    assert unanswerable.hit is None and unanswerable.seen_hit is None
    assert unanswerable.abstained == is_abstention(unanswerable.answer)
    assert unanswerable.correct == is_abstention(unanswerable.answer)
    assert list(results.input_tokens) == [r.input_tokens for r in pipeline.records]
    assert len(pipeline.records) == 2
