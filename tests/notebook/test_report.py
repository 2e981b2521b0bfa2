"""The tour's index.html: the scorecard and the scoreboard on one printable, offline page."""

from html.parser import HTMLParser

from toolkit.notebook.report import index_page
from toolkit.notebook.tour import NotebookScore

SCOREBOARD = (
    "notebook,pipeline,questions,accuracy,seen_hit_rate,abstention,wrong_caught,p95_latency_s,usd_per_1k,"
    "cache_savings,note\n"
    "01_a,cc16723d37d8,24,0.25,0.81,0,,2.08,0.0802,0,\n"
    '03_c,0d318faca02a,24,0.625,1,0.333,0,0.2,0,0.125,"replayed, <i>not</i> live"\n'
)


class Tables(HTMLParser):
    """Every table's rows as lists of cell texts (a <br> read as a newline), and every link's href."""

    def __init__(self, page: str):
        super().__init__()
        self.tables, self.links, self._cell = [], [], None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "br" and self._cell is not None:
            self._cell += "\n"
        elif tag == "a":
            self.links.append(dict(attrs)["href"])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def scores() -> list[NotebookScore]:
    return [
        NotebookScore(
            "01_a.ipynb",
            title="01 · A & B",
            metric="hit_rate@3, accuracy",
            values={"hit_rate@3": 0.9, "accuracy": 0.25},
            threshold=">= 0.8, >= 0.2",
            passed=True,
            seconds=12.5,
        ),
        NotebookScore("02_b.ipynb", title="02 · B", seconds=3.2, error="ValueError: <b>boom</b>"),
    ]


def test_the_index_page_holds_the_scorecard_total_and_scoreboard(tmp_path):
    (tmp_path / "scoreboard.csv").write_text(SCOREBOARD, encoding="utf-8")
    page = index_page(scores(), tmp_path / "scoreboard.csv", "dashboard.html", commit="4cba6e2", date="2025-06-02")
    parsed = Tables(page)
    scorecard, scoreboard = parsed.tables

    assert "<h1>Pipeline report</h1>" in page
    assert "at commit 4cba6e2 on 2025-06-02" in page
    assert scorecard == [
        ["notebook", "checkpoint metric", "value", "needs", "result", "seconds", "error"],
        ["01_a.ipynb 01 · A & B", "hit_rate@3\naccuracy", "0.9\n0.25", ">= 0.8\n>= 0.2", "PASS", "12.5", ""],
        ["02_b.ipynb 02 · B", "", "", "", "FAIL", "3.2", "ValueError: <b>boom</b>"],
    ]
    assert "Total: 15.7 seconds." in page
    assert "1 of 2 notebooks passed" in page
    assert scoreboard == [
        [
            "notebook",
            "pipeline",
            "questions",
            "accuracy",
            "seen hit rate",
            "abstention",
            "wrong answers caught",
            "p95 latency (s)",
            "$ per 1,000 queries",
            "cache savings",
            "note",
        ],
        ["01_a", "cc16723d37d8", "24", "0.25", "0.81", "0", "-", "2.08", "0.0802", "0", ""],
        ["03_c", "0d318faca02a", "24", "0.625", "1", "0.333", "0", "0.2", "0", "0.125", "replayed, <i>not</i> live"],
    ]
    # Each notebook of this run links to its HTML, from the scorecard and from its scoreboard row
    # (03_c ran in an earlier tour and has no page here).
    assert parsed.links == ["01_a.html", "02_b.html", "dashboard.html", "01_a.html"]


def test_every_text_on_the_index_page_is_escaped(tmp_path):
    (tmp_path / "scoreboard.csv").write_text(SCOREBOARD, encoding="utf-8")
    page = index_page(scores(), tmp_path / "scoreboard.csv", commit="<x>")

    assert "ValueError: &lt;b&gt;boom&lt;/b&gt;" in page and "<b>" not in page
    assert "replayed, &lt;i&gt;not&lt;/i&gt; live" in page and "<i>" not in page
    assert "01 · A &amp; B" in page
    assert "commit &lt;x&gt;" in page


def test_the_index_page_prints_and_opens_offline():
    page = index_page(scores())

    assert "@media print" in page
    assert "<script" not in page and "http" not in page  # no JavaScript, nothing fetched
    assert "Scoreboard" not in page  # no scoreboard.csv, no empty section
    assert "at commit" not in page  # git could not say
