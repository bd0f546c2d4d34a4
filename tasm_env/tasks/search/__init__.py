"""Exact optimum search: the provably shortest program equivalent to a small straight-line baseline.

>>> result = search("dup 1 dup 1 add", inputs=("field", "field"))
>>> result.cycles, result.proved
(3, True)

**Method.** Breadth-first search over programs, by layers of equal length, where a *state* is the fingerprint
of everything a program has done so far on a fixed set of ``T`` tests (``verify.make_tests`` with the
baseline's input types, 16 random context elements below the inputs, random public/secret input, random RAM):
the whole stack, the public/secret input consumed, the public output written, the secret digests consumed and
the RAM writes and sponge (the *side*). Values are interned: every distinct vector of ``T`` values gets an id,
so a stack is a short row of ids and stack instructions just permute ids. Two programs reaching the same state
are interchangeable for the rest of the search (their futures on these tests are identical), so each state
is kept once. The goal is the baseline's final state on the same tests. Any program equivalent to the
baseline reaches the goal state, so exhausting every state reachable in fewer than ``d`` instructions
without meeting the goal *proves* that no equivalent program shorter than ``d`` exists (within the searched
instruction set). A program that reaches the goal is re-verified with the full verifier (64 tests, another
seed); if it fails (the fingerprint tests could not tell it apart: a collision) the search restarts with
twice as many tests.

The search runs as iterative deepening on a bound ``B`` (IDA*-style, with breadth-first layers and
duplicate elimination inside each iteration): a state at length ``d`` survives only while ``d + h <= B``,
where ``h`` is an admissible lower bound on the instructions still needed. ``B`` starts at ``h`` of the
initial state and grows by one each time an iteration is exhausted, so the first goal met is at the optimum
and every exhausted iteration raises the proven lower bound.

**Vectorisation.** A layer is a matrix of id rows (states x stack slots, top first). Moves are applied to
chunks of parents at once with numpy: stack moves as column gathers; value instructions evaluate their
*distinct* operand tuples only, through the batched executor's own evaluators (so the search and the verifier
share one semantics; inversions are batched), memoised per operand tuple across layers and iterations, and
the results are interned through a vectorised sorted-run index. A state's hash is a position-weighted sum of
per-id random keys (two independent 64-bit sums, 128 bits), so a child's hash is its parent's plus a few
terms, computed before the child row is ever built; a vectorised open-addressing hash set drops states seen
before, and only the survivors are materialised. The last layer of an iteration is only scanned for the goal
(a stack move's child must hash to the goal; an op must leave the goal's slots below its results and produce
the goal's top values), which is why the largest layer is never built. The rare instructions with side effects
(RAM, sponge, Merkle steps, I/O) run per distinct (operands, side) tuple in Python, memoised.

**Partial baselines** (blocks that crash on some valid inputs: ``assert``, ``assert_vector``, ``invert`` of 0,
``log_2_floor`` of 0, u32 operands out of range, ``div_mod`` by 0). Equivalent means: on every valid input both
crash or neither does, and where neither does the whole state agrees (:mod:`tasm_env.verify`). The
fingerprint tests are then the verifier's own tests (:func:`.space.partial_tests`, through the public
``Verifier``: its tests reach the non-crashing region by solving for assertions and operands): ``T`` *passing
lanes* (tests the baseline passes) and up to 24 *crash lanes* (tests it crashes on, spread over the edge,
pair and random tests). Value vectors span both; a state's meta also holds the crash lanes it has crashed on
(a bitmask, column ``CRASH``). A value instruction is evaluated lane by lane (:func:`.pure.compute_partial`):
a crash on a passing lane kills the state (an equivalent program cannot crash where the baseline does not);
a crash on a crash lane sets its bit and zeroes the results there (the lane is over: nothing it holds
afterwards can matter). Two states are merged only when their value vectors agree on *every* lane and their
crash masks agree: their futures are then identical on all fingerprint lanes, crash lanes included, so
merging loses nothing. (Merging on the passing lanes alone would be unsound: with ``push 7 eq assert`` the
input is 7 on every passing lane, and ``pop 1`` would stand in for ``addi -6 assert``.) The goal is met by a
state that agrees with the baseline's final state on the passing lanes (values compared through their
projection on those lanes, ``Values.proj``) and has crashed on every crash lane. Any equivalent program
meets it; so exhausting the states shorter than ``d`` proves, as for total baselines, that no shorter
equivalent program exists. The final layer is expanded in full for partial baselines (its goal shortcut
compares exact ids). The search may emit ``assert`` for a partial baseline even if the baseline does not
use it, besides the crashing value instructions (``invert``, ``log_2_floor``, ``div_mod``, u32 ops) that
every search has.

**Verifier refutations.** Every program that meets the goal is judged by the full verifier (crash pattern
included). A program the verifier refutes met the goal only because the fingerprint could not tell it apart;
the other programs merged with it into the same states are no more proven non-equivalent than it is, so the
search cannot simply pass over it: it restarts from the same length with twice the fingerprint tests (the
lengths already exhausted stay proven: a program that fails to meet the goal on some test set is not
equivalent). Past 64 tests the length is given up (unproven: ``proved`` is then False) and longer lengths
are searched. **Minimality**, then: every program shorter than a proved optimum was either pruned (a crash on
a passing lane, a bound, a duplicate of a state that was itself expanded) or reached a non-goal state on some
fingerprint test set: each of which implies non-equivalence; refutations never count as proof of anything
but the refuted program, which is why they trigger a restart rather than a skip.

**Pruning** (all sound: no equivalent program is lost):

* crashes on any fingerprint test the baseline passes (u32 operand, inverse of zero, assertion, exhausted
  input, missing sponge, the 16-element floor) kill the state (a total baseline: on every fingerprint test);
* no more public/secret input or secret digests than the baseline consumes; public output must stay a
  prefix of the baseline's output;
* a context element (below the inputs) that is no longer on the stack and on which no stack value or RAM
  write depends can never come back: the state is dead (only matters with ``touch_context=True``);
* the lower bound ``h`` is the largest of: the stack-depth distance to the goal depth (over the most any
  searched instruction grows or shrinks the stack in one step); the goal values not on the stack (over the
  most new values one searched instruction creates) plus the outputs still to write (over the widest
  ``write_io``); the input tokens and digests still to read;
* states seen at an earlier length of the same iteration are not expanded again, so sequences such as
  ``swap i swap i`` or ``dup i pop 1`` die without special rules.

**Reach** (``benchmarks/optimal_search.py`` on 2 shared cores): about 200,000 states expanded per second on
field-arithmetic blocks, depending on the machine's load; with the widened constant set (about 120 searched
instructions) proved within 30 s: a two-term dot product (9 -> 5, 1.5M states), ``a*b+c`` (7 -> 3);
``a^2+b^2`` (9 -> 6) takes about 100 s (20M states); ``(a+b)*(a-b)`` and a three-term dot product are out of
reach in 30 s (lower bound 6). Layers grow 15 to 30 fold per instruction, so each further cycle of optimum costs
about that factor; an ``incumbent`` (a known equivalent program) saves its own length's layer.

**The searched instruction set** (optimality is proved relative to it; :attr:`SearchResult.instruction_set`
lists it exactly for each search, :attr:`SearchResult.relative_to` gives it as instructions, ``push`` and
``addi`` constants and scope, and suite files store that record with every optimum):

* stack: ``dup 0..15``, ``swap 1..15``, ``pick 2..15``, ``place 2..15``, ``pop 1..5`` (``pick 1`` and
  ``place 1`` do exactly what ``swap 1`` does; ``swap 0``, ``pick 0``, ``place 0`` and ``nop`` do nothing);
  indices limited by the live stack, see ``touch_context`` below;
* constants (:mod:`.constants`): at least every constant the emission vocabulary can emit for the task (its
  fixed ``push`` constants -1, 0..10, 16, 32, 2^32-1, 2^32 and ``addi`` constants -5..5, and the baseline's
  literals, to which its slots are bound), folded constants (the literals' negations, pairwise sums,
  differences and products, and the values the baseline computes that are constant), and solved constants: after
  each exhausted length, small constants ``c`` for which a final ``push c``, ``addi c`` or ``push c mul``
  turns a value the search reached into a goal value on every fingerprint test (then the proof restarts over
  the larger set). ``push`` takes the vocabulary's push constants, ``addi`` its addi constants, both take the
  literal, folded and solved ones;
* arithmetic, always: ``add mul eq invert split pow lt and xor log_2_floor pop_count div_mod xx_add xx_mul
  x_invert xb_mul`` (the extension-field ones matter for base-field work too: ``xb_mul`` is three
  multiplications in one cycle, ``xx_add`` three additions);
* input/output: ``read_io n`` / ``divine n`` for ``n`` up to what the baseline reads, ``write_io n`` up to
  what it writes;
* memory, only when the baseline uses RAM: ``read_mem 1..5``, ``write_mem 1..5`` and the baseline's other
  RAM instructions; hashing (``hash``, ``sponge_*``, ``merkle_step*``) and assertions (``assert``,
  ``assert_vector``): only those the baseline uses.

``touch_context=False`` (the default) searches the programs that never read below the block's own live
values, which is what the emission environment's ``stack`` masking level allows; the baseline must do the
same (if it does not, the search switches to ``touch_context=True`` by itself). ``touch_context=True``
allows every index: context elements may be moved, but never lost. Both facts are in
:attr:`SearchResult.scope`.

**What is proved, honestly.** ``proved=True`` means: no program over the searched instruction set (and
scope: :attr:`SearchResult.relative_to`) that is shorter than ``cycles`` reaches the baseline's final state on
the fingerprint tests, hence none is equivalent to the baseline. ``relative_to.fingerprints`` says where the
fingerprint tests came from (for a partial baseline: its non-crashing region plus tests it crashes on). Duplicate states are recognised by 128-bit
hashes (a false merge has probability about ``n^2 / 2^128``). The found program passed the full verifier
(random tests: strong evidence, not a proof of equivalence on every input).

**Files.** :mod:`.driver` (:func:`search`), :mod:`.engine` and :mod:`.chunk` (the layers), :mod:`.space` (one
fingerprint test set: values, goal, bound), :mod:`.moves` (the searched instructions), :mod:`.pure` and
:mod:`.steps` (their semantics, from the batched executor's evaluators), :mod:`.values` and :mod:`.keys`
(interning and hashing), :mod:`.layers` (state layout), :mod:`.constants` (the constant set),
:mod:`.results`, :mod:`.optimize` (``te.optimize``).
"""

from .constants import MAX_CONSTANTS
from .driver import VERIFY_TESTS, reads_below_inputs, search
from .moves import ARITHMETIC, FIXED_CONSTANTS, instruction_set
from .optimize import optimize
from .results import SearchResult, to_optimum

__all__ = ["ARITHMETIC", "FIXED_CONSTANTS", "MAX_CONSTANTS", "VERIFY_TESTS", "SearchResult", "instruction_set",
           "optimize", "reads_below_inputs", "search", "to_optimum"]
