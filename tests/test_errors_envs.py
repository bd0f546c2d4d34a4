"""Bad arguments to the environments raise a TasmError subclass saying what was expected (issue 14, item 4)."""

import gymnasium
import numpy as np
import pytest

import tasm_env as te
from tasm_env.emission.reward import RewardModel
from tasm_env.envs import GYM_ID
from tasm_env.envs.gfn import TasmGFNEnv
from tasm_env.envs.gym import TasmEmitEnv

TINY = [te.Task.from_tasm("dup 1 dup 1 add", ("field", "field"), name="add-keep")]
ENVS = {"gym": lambda **kw: TasmEmitEnv(**{"tasks": TINY, "include_graph": False, **kw}),
        "gfn": lambda **kw: TasmGFNEnv(**{"tasks": TINY, **kw})}


def raises_config_error(match: str):
    return pytest.raises(te.ConfigError, match=match)


def test_config_errors_are_tasm_errors_and_value_errors():
    assert issubclass(te.ConfigError, te.TasmError) and issubclass(te.ConfigError, ValueError)


def test_gymnasium_make_with_a_suite_that_is_not_a_name_says_what_a_suite_is():
    with raises_config_error("suite must be a suite name such as 'tasm-basic-v1'.*got 42"):
        gymnasium.make(GYM_ID, suite=42)


@pytest.mark.parametrize("kind", ENVS)
def test_a_suite_or_tasks_of_the_wrong_type(kind):
    with raises_config_error("suite must be a suite name.*got 42"):
        ENVS[kind](tasks=None, suite=42)
    with raises_config_error("tasks must be a tasm_env.Task, a sequence of them or a suite name, got 7"):
        ENVS[kind](tasks=7)


@pytest.mark.parametrize("kind", ENVS)
def test_a_vocabulary_given_by_name_says_what_a_vocabulary_is(kind):
    with raises_config_error(r"vocab must be a tasm_env.emission.vocab.Vocabulary \(Vocabulary.default\(\).*"
                             "got 'default'"):
        ENVS[kind](vocab="default")


@pytest.mark.parametrize("kind", ENVS)
@pytest.mark.parametrize("eps", [2, 1, 0, -0.5, float("nan"), "0.1", True])
def test_eps_outside_the_unit_interval_is_named_not_partial_credit(kind, eps):
    with raises_config_error(r"eps must be a number \(0, 1\) \(the reward of an invalid block"):
        ENVS[kind](eps=eps)


def test_the_reward_model_names_eps_too():
    with raises_config_error(r"eps \(the reward of an invalid program\) must be in \(0, 1\)"):
        RewardModel(eps=2)


@pytest.mark.parametrize("kind", ENVS)
@pytest.mark.parametrize("max_len", [3.5, 0, -2, True, "8"])
def test_max_len_must_be_a_positive_integer(kind, max_len):
    with raises_config_error(r"max_len \(the most tokens a block may have, EOS excluded\) must be an integer of "
                             "at least 1"):
        ENVS[kind](max_len=max_len)


@pytest.mark.parametrize("kind", ENVS)
@pytest.mark.parametrize("n_tests", [0, 2.5])
def test_n_tests_must_be_a_positive_integer_at_construction(kind, n_tests):
    with raises_config_error("n_tests must be an integer of at least 1"):
        ENVS[kind](n_tests=n_tests)


def test_reset_options_that_are_not_a_dict():
    env = ENVS["gym"]()
    with raises_config_error(r"options must be None or a dict such as \{'task': .*got 'gt'"):
        env.reset(options="gt")


def test_a_misspelled_reset_option_is_refused_naming_the_valid_ones():
    env = ENVS["gym"]()
    with raises_config_error("unknown reset option.*'tsk'.*the options are 'task'"):
        env.reset(options={"tsk": 0})
    env.reset(options={"task": 0})  # the right spelling still works


@pytest.mark.parametrize("action", [3.0, True, False, np.float64(3.0), np.array([3.0]), np.bool_(True), "3"])
def test_float_and_bool_actions_are_refused(action):
    env = ENVS["gym"]()
    env.reset(seed=0)
    before = env.unwrapped.row.row.copy()
    with raises_config_error(r"an action is an integer token id in \[0, \d+\) \(an int or a numpy integer, "
                             "not a float or a bool\\)"):
        env.step(action)
    assert np.array_equal(env.unwrapped.row.row, before)


@pytest.mark.parametrize("action", [3, np.int64(3), np.array(3), np.array([3])])
def test_integer_actions_still_step(action):
    env = ENVS["gym"](illegal_action="penalty")
    env.reset(seed=0)
    env.step(action)
