"""The timeline benchmark at a tiny size: it times every step of a sliced load and puts the code back."""

from pipelines import loading
from pipelines.background_load import BackgroundLoad
from pipelines.bench import timeline
from sources.cometchat import windows


def test_timeline_times_each_slice_and_its_load_on_the_thread():
    extract_slice, load_on_thread = loading.extract_slice, BackgroundLoad._load
    page_wait = windows._Rounds.get

    steps, seconds = timeline.measure(messages=3_000, messages_per_load=1_000)

    extracts = [step for step in steps.steps if step.name == "extract a slice of messages"]
    loads = [step for step in steps.steps if step.name == "load a slice on the load thread"]
    assert len(extracts) >= 2 and all(step.thread == "MainThread" for step in extracts)
    assert len(loads) == len(extracts) and all(step.thread == "cometchat-load" for step in loads)
    # Slice N's package loads on the thread once its extract has ended (the last one beside the other tables).
    for extract, load in zip(extracts, loads, strict=True):
        assert extract.end <= load.start
    assert all(0 <= step.start <= step.end <= seconds + 1 for step in steps.steps)
    assert steps.busy and all(0 <= cores <= timeline.MACHINE_CORES + 0.01 for _, cores in steps.busy)
    printed = timeline.report(steps, seconds)
    assert "load a slice on the load thread" in printed and "whole run:" in printed
    assert "message windows read on" in printed
    # A first run of 3,000 messages reads them in time windows: the loader's waits for their pages are timed.
    assert steps.waits
    assert "for the windows' pages" in printed and "answers of the API" in printed
    assert (loading.extract_slice, BackgroundLoad._load) == (extract_slice, load_on_thread)
    assert windows._Rounds.get is page_wait
