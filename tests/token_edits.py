"""A Hypothesis strategy shared by the reward and screen tests: blocks drawn near a task's baseline; and their
grouping by task."""

from hypothesis import strategies as st

from tasm_env import Program


@st.composite
def edited_tokens(draw, baseline: list[int], tokens: list[int], max_edits: int) -> list[int]:
    """Either a random string of ``tokens`` (1 to 24 of them) or ``baseline`` with up to ``max_edits`` random
    edits (insert, delete, replace, swap): the edited ones often keep the baseline's static shape and survive
    some tests, so the later rounds are exercised too."""
    if draw(st.booleans()):
        return draw(st.lists(st.sampled_from(tokens), min_size=1, max_size=24))
    edited = list(baseline)
    for _ in range(draw(st.integers(0, max_edits))):
        k = draw(st.integers(0, len(edited)))
        edit = draw(st.sampled_from(["insert", "delete", "replace", "swap"]))
        token = draw(st.sampled_from(tokens))
        if edit == "insert":
            edited = edited[:k] + [token] + edited[k:]
        elif edited and edit == "delete":
            edited = edited[:k] + edited[k + 1:]
        elif edited and edit == "replace":
            edited = edited[:k] + [token] + edited[k + 1:]
        elif len(edited) > 1:
            k = min(k, len(edited) - 2)
            edited = edited[:k] + [edited[k + 1], edited[k]] + edited[k + 2:]
    return edited


@st.composite
def task_blocks(draw, pool, bounds, tokens, max_edits: int):
    """(task index, program) over a pool of tasks with their bound vocabularies ``bounds`` and decodable
    ``tokens``: a block of :func:`edited_tokens` near the task's baseline, decoded."""
    t = draw(st.integers(0, len(pool) - 1))
    baseline = bounds[t].encode(Program.coerce(pool[t].baseline))
    return t, bounds[t].decode(draw(edited_tokens(baseline, tokens[t], max_edits)))


def distinct_by_task(blocks) -> dict[int, list]:
    """(task, program) blocks grouped by task, each task's distinct programs in the order first drawn."""
    by_task: dict[int, list] = {}
    for t, program in blocks:
        by_task.setdefault(t, [])
        if program not in by_task[t]:
            by_task[t].append(program)
    return by_task
