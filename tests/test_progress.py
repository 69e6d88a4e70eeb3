"""Progress callbacks: every call reaches the bars, about ten reach the log."""
from __future__ import annotations

from gan_aug.progress import listening, published


def test_published_sends_every_call_to_listeners_and_one_per_tenth_to_the_report():
    seen, logged = [], []
    progress = published("stage", lambda done, total, **details: logged.append((done, details)))
    with listening(lambda done, total, *, stage: seen.append((stage, done, total))):
        for done in range(0, 101):
            progress(done, 100, note="x")
    assert seen == [("stage", done, 100) for done in range(101)]
    assert logged == [(done, {"note": "x"}) for done in range(0, 101, 10)]
