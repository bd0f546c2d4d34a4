"""The collector pause (tasm_env.collector): off inside, restored after (also on an exception, also nested),
cycles made inside collected at the end, and the reward model pausing it for big batches only."""

import gc
import weakref

import pytest

import tasm_env as te
from tasm_env.collector import collector_paused
from tasm_env.emission import reward


class _Node:
    pass


@pytest.fixture(autouse=True)
def _collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def _cycle() -> weakref.ref:
    node = _Node()
    node.me = node  # a reference cycle: only the cyclic collector frees it
    return weakref.ref(node)


def test_off_inside_on_after_and_cycles_collected_at_the_end():
    with collector_paused(True):
        assert not gc.isenabled()
        made = _cycle()
        assert made() is not None
    assert gc.isenabled()
    assert made() is None  # the closing collection of the young generations freed it


def test_restored_when_the_body_raises():
    with pytest.raises(KeyError):
        with collector_paused(True):
            made = _cycle()
            raise KeyError("inside")
    assert gc.isenabled()
    assert made() is None


def test_nested_use_keeps_the_outer_pause():
    with collector_paused(True):
        with collector_paused(True):
            assert not gc.isenabled()
            made = _cycle()
        assert not gc.isenabled()  # the inner pause does not switch the outer one's collector back on
        assert made() is not None  # nor collect: the outer pause's end does
        with collector_paused(False):
            assert not gc.isenabled()
    assert gc.isenabled()
    assert made() is None


def test_no_pause_and_an_off_collector_are_left_alone():
    with collector_paused(False):
        assert gc.isenabled()
    gc.disable()
    with collector_paused(True):
        assert not gc.isenabled()
    assert not gc.isenabled()  # the caller's own gc.disable() stands


def test_the_reward_model_pauses_big_batches_of_new_blocks_only(monkeypatch):
    seen = []
    screen = reward.screen

    def watched(work):
        seen.append(gc.isenabled())
        return screen(work)

    monkeypatch.setattr(reward, "screen", watched)
    task = te.Task.from_tasm("push 1 add", ("field",), name="plus-one")
    model = reward.RewardModel()
    big = [f"push {k} add" for k in range(reward.PAUSE_AT)]
    first = model.evaluate(task, big)
    assert seen and not any(seen) and gc.isenabled()
    seen.clear()
    small = model.evaluate(task, big[1:2] + [f"push {reward.PAUSE_AT} add"])  # one cached, one new
    assert seen and all(seen) and gc.isenabled()
    assert [e.valid for e in first] == [k == 1 for k in range(reward.PAUSE_AT)]
    assert [e.valid for e in small] == [True, False]
