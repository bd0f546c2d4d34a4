"""Fuzzing, bounded (issue 14): random and mutated TASM texts, random unmasked env actions, SIGKILL during saves.

Sample sizes scale with the environment variable ``TASM_FUZZ_SCALE`` (default 0.01, which keeps ``make test``
fast); the ``slow`` tests run the full sizes (100,000 texts, 1,000,000 actions, 20 kills per file kind) whatever
the variable says::

    TASM_FUZZ_SCALE=0.1 pytest tests/test_fuzz.py       # a tenth of the full sizes
    pytest -m slow tests/test_fuzz.py                   # the full sizes

A failure prints the seed and the offending input, so it can be replayed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tasm_env import isa
from tasm_env.asm import Program
from tasm_env.errors import ParseError, TasmError

SCALE = float(os.environ.get("TASM_FUZZ_SCALE", "0.01"))
FULL_TEXTS, FULL_ACTIONS, FULL_KILLS = 100_000, 1_000_000, 20


def _scaled(full: int, minimum: int) -> int:
    return max(minimum, int(full * SCALE))


# ------------------------------------------------------------------------------------------ TASM texts

_WORDS = [*isa.MNEMONICS, "hint", "break", "error_id", "error_message", "stack[0]", "stack[0..2]", "=", ":",
          "x:", "f:", "g:", "call", "f", "g", "//", "/*", "*/", "\n", "\t", " ", "0", "1", "-1", "15", "16", "5",
          "18446744069414584321", "-18446744069414584320", "170141183460469231731687303715884105728", "..",
          "u32", "Pair<u32,", ">", "[", "]", "é", "\x00", "\r\n", "+7", "007", "1e3", "0x10", "or"]
_VALID = [
    "push 1 push 2 add", "dup 0 mul push -1 add", "start: push 3 call f halt f: addi -1 return",
    "push 1 assert error_id -7 nop", "hint a: u32 = stack[0] dup 0 break pop 1",
    "// comment\npush 5 /* block */ split lt", "read_io 2 write_io 1 divine 3 pop 4",
    "sponge_init sponge_absorb_mem sponge_squeeze", "loop : dup 0 skiz recurse return",
]


def _random_text(rng: np.random.Generator) -> str:
    kind = rng.integers(4)
    if kind == 0:  # words from the grammar, glued by random separators
        words = rng.choice(_WORDS, size=int(rng.integers(0, 16)))
        separators = rng.choice([" ", "\n", "", "  ", "\t"], size=len(words))
        return "".join(w + s for w, s in zip(words, separators))
    if kind == 1:  # printable noise
        return "".join(chr(c) for c in rng.integers(32, 127, size=int(rng.integers(0, 40))))
    if kind == 2:  # any code points, control characters and surrogates included
        return "".join(chr(c) for c in rng.integers(0, 0x11000, size=int(rng.integers(0, 20)))
                       if not 0xD800 <= c < 0xE000)
    return _mutated(str(rng.choice(_VALID)), rng)


def _mutated(text: str, rng: np.random.Generator) -> str:
    """A valid program with one to four character-level edits."""
    chars = list(text)
    for _ in range(int(rng.integers(1, 5))):
        edit = rng.integers(4)
        i = int(rng.integers(len(chars) + 1))
        if edit == 0 and chars and i < len(chars):
            del chars[i]
        elif edit == 1:
            chars.insert(i, str(rng.choice(list(" \n:/*-0123456789abz[].=<>,") + ["push", "error_id", "hint"])))
        elif edit == 2 and chars and i < len(chars):
            chars[i] = chr(int(rng.integers(32, 127)))
        else:
            j = int(rng.integers(len(chars) + 1))
            chars[min(i, j):max(i, j)] = chars[min(i, j):max(i, j)][::-1]
    return "".join(chars)


def _fuzz_texts(n: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    outcomes = {"program": 0, "parse_error": 0}
    for k in range(n):
        text = _random_text(rng)
        try:
            program = Program.parse(text)
        except ParseError as err:
            assert err.line >= 1 and err.column >= 1 and err.message, (seed, k, text)
            outcomes["parse_error"] += 1
            continue
        except Exception as err:  # noqa: BLE001 - the point: nothing else may escape
            pytest.fail(f"seed {seed}, text #{k} {text!r} raised {type(err).__name__}: {err}")
        again = Program.parse(str(program))  # whatever parses prints as text that parses to the same program
        assert again == program and again.directives == program.directives, (seed, k, text)
        outcomes["program"] += 1
    return outcomes


def test_random_and_mutated_texts_give_a_program_or_a_parse_error():
    outcomes = _fuzz_texts(_scaled(FULL_TEXTS, 2_000), seed=1)
    assert outcomes["program"] > 0 and outcomes["parse_error"] > 0  # both sides were exercised


@pytest.mark.slow
def test_100_000_texts_give_a_program_or_a_parse_error():
    outcomes = _fuzz_texts(FULL_TEXTS, seed=2)
    assert sum(outcomes.values()) == FULL_TEXTS


# ------------------------------------------------------------------------------- the Gymnasium env


def _fuzz_env(n: int, seed: int) -> dict[str, int]:
    """``n`` random actions, unmasked, on the env with ``illegal_action="error"``. ``docs/envs.md`` promises: a masked
    token raises ``IllegalActionError`` (the env unchanged), an action outside ``[0, V)`` or not an integer
    raises ``TasmError``; nothing else raises."""
    import gymnasium as gym

    from tasm_env.envs.gym import IllegalActionError

    env = gym.make("tasm_env/TasmEmit-v0", illegal_action="error")
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    n_tokens = env.action_space.n
    counts = {"steps": 0, "illegal": 0, "outside": 0, "episodes": 0}
    for k in range(n):
        outside = rng.random() < 0.01
        action = int(rng.choice([-1, n_tokens, n_tokens + 7, -(1 << 40)])) if outside else int(rng.integers(n_tokens))
        try:
            _, _, terminated, truncated, _ = env.step(action)
        except IllegalActionError:
            assert not outside, (seed, k, action)
            counts["illegal"] += 1
            continue
        except TasmError:
            assert outside, f"seed {seed}, action #{k} {action}: TasmError for an action inside [0, V)"
            counts["outside"] += 1
            continue
        except Exception as err:  # noqa: BLE001
            pytest.fail(f"seed {seed}, action #{k} ({action}) raised {type(err).__name__}: {err}")
        assert not outside, f"seed {seed}, action #{k}: {action} is outside [0, {n_tokens}) and was accepted"
        counts["steps"] += 1
        if terminated or truncated:
            counts["episodes"] += 1
            env.reset()
    return counts


def test_random_unmasked_actions_raise_only_what_the_docs_promise():
    counts = _fuzz_env(_scaled(FULL_ACTIONS, 3_000), seed=3)
    assert counts["steps"] and counts["illegal"] and counts["outside"] and counts["episodes"]


@pytest.mark.slow
def test_1_000_000_random_unmasked_actions_raise_only_what_the_docs_promise():
    counts = _fuzz_env(FULL_ACTIONS, seed=4)
    assert sum(v for k, v in counts.items() if k != "episodes") == FULL_ACTIONS


# ----------------------------------------------------------------------------- SIGKILL during a save

_SLOW_DISK = """
import builtins, time

_open = builtins.open


class _SlowFile:
    # a file opened for writing whose writes trickle out in small flushed pieces (a slow disk), so that a
    # SIGKILL at a random moment lands inside a write most of the time
    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        for k in range(0, len(data), 2048):
            self._handle.write(data[k:k + 2048])
            self._handle.flush()
            time.sleep(0.0002)
        return len(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._handle.__exit__(*exc)


def _slow_open(file, mode="r", *args, **kwargs):
    handle = _open(file, mode, *args, **kwargs)
    return _SlowFile(handle) if any(c in mode for c in "wax+") else handle


builtins.open = _slow_open
"""

_WRITERS = {
    # each child saves again and again, one record more each time, and acknowledges every completed save on
    # stdout; writing is most of what it does, so the kill usually lands inside a write
    "replay": _SLOW_DISK + """
from agents.replay import BuildResult, ReplayBuffer


def record(i):
    return BuildResult(task_hash=f"h{i}", task="fuzz", program=f"push {i}", valid=True, cycles=i % 7,
                       baseline_cycles=9, fallback_used=False, time=float(i), model_version=i)


buffer = ReplayBuffer(1_000_000)
buffer.extend(record(i) for i in range(2_000))
saved = len(buffer)
while True:
    buffer.save(PATH)
    print(saved, flush=True)
    buffer.add(record(saved))
    saved += 1
""",
    # safetensors writes from Rust, past Python's `open`: here its bytes go through the slow disk instead
    "checkpoint": _SLOW_DISK + """
import torch
from safetensors.torch import save

import agents.checkpoint


def save_file(tensors, filename, metadata=None):
    with open(filename, "wb") as handle:
        handle.write(save(tensors, metadata))


agents.checkpoint.save_file = save_file
layer = torch.nn.Linear(256, 256, bias=False)
saved = 0
while True:
    saved += 1
    with torch.no_grad():
        layer.weight.fill_(saved)
    agents.checkpoint.save_checkpoint(PATH, {"layer": layer}, {"saves": saved})
    print(saved, flush=True)
""",
}


def _saved_records(kind: str, path: Path) -> int:
    """How many records the file holds, checking that each is exactly what the writer wrote."""
    if kind == "replay":
        from agents.replay import ReplayBuffer

        buffer = ReplayBuffer.load(path)
        for i, result in enumerate(buffer):
            assert (result.task_hash, result.program, result.cycles, result.model_version) == (
                f"h{i}", f"push {i}", i % 7, i)
        return len(buffer)
    from agents.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(path)
    saves = checkpoint.meta["saves"]
    assert bool((checkpoint.module_state("layer")["weight"] == saves).all())
    return saves


def _kill_during_saves(kind: str, kills: int, tmp_path: Path, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    path = tmp_path / f"{kind}.file"
    code = f"PATH = {str(path)!r}\n" + _WRITERS[kind]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    counts = []
    for _ in range(kills):
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
        first = child.stdout.readline()  # the first save completed: the child is saving in a loop now
        assert first.strip(), f"the {kind} writer died before its first save"
        time.sleep(float(rng.uniform(0.0, 0.4)))
        child.send_signal(signal.SIGKILL)
        child.wait()
        acknowledged = [int(line) for line in [first, *child.stdout.read().split()] if str(line).strip()]
        child.stdout.close()
        on_disk = _saved_records(kind, path)
        # nothing acknowledged is lost, and the file is at most one save ahead of the acknowledgements
        assert acknowledged[-1] <= on_disk <= acknowledged[-1] + 1, (kind, on_disk, acknowledged[-1])
        counts.append(on_disk)
        leftovers = [p.name for p in tmp_path.iterdir() if p != path and not p.name.startswith(".")]
        assert not leftovers, leftovers
    return counts


@pytest.mark.parametrize("kind", sorted(_WRITERS))
def test_a_save_killed_with_sigkill_loses_no_record(kind, tmp_path):
    _kill_during_saves(kind, _scaled(FULL_KILLS, 2), tmp_path, seed=5)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(_WRITERS))
def test_20_saves_killed_with_sigkill_lose_no_record(kind, tmp_path):
    _kill_during_saves(kind, FULL_KILLS, tmp_path, seed=6)
