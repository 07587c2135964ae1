"""A small labelled retrieval set for judging a quantized model against its float32 one.

Passages: Python's own reference documentation, as every CPython installation ships it
(``pydoc_data.topics``: the texts ``help("for")`` prints), cut into pieces of
PASSAGE_WORDS words, the first PIECES_PER_TOPIC of each topic. Queries: questions
written for this project, each labelled with the topic that answers it. Nothing is
downloaded, and the set is the same wherever the same Python runs.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

PASSAGE_WORDS = 100
PIECES_PER_TOPIC = 4

# (query, the pydoc topic whose passages answer it)
QUERIES: tuple[tuple[str, str], ...] = (
    ("how do I check a condition and stop with an error while debugging", "assert"),
    ("how are values bound to names with the equals sign", "assignment"),
    ("coroutine functions defined with async def", "async"),
    ("customizing what happens when an attribute of an object is looked up", "attribute-access"),
    ("adding to a variable in place with +=", "augassign"),
    ("precedence of multiplication, division and remainder operators", "binary"),
    ("how and, or and not evaluate their operands", "booleans"),
    ("leaving a loop before it has finished", "break"),
    ("passing positional and keyword arguments to a function", "calls"),
    ("defining a new class that inherits from base classes", "class"),
    ("chaining comparison operators such as a < b < c", "comparisons"),
    ("objects with __enter__ and __exit__ methods", "context-managers"),
    ("skipping to the next iteration of a loop", "continue"),
    ("removing a name binding or an item of a list", "del"),
    ("dictionary displays written with keys and values in braces", "dict"),
    ("what happens when an error is raised and nobody handles it", "exceptions"),
    ("iterating over the items of a sequence", "for"),
    ("format specification for field width and precision", "formatstrings"),
    ("function definitions with default parameter values", "function"),
    ("declaring that a name refers to a module-level variable", "global"),
    ("conditional execution with elif and else", "if"),
    ("loading a module and binding it to a name", "import"),
    ("anonymous functions inside an expression", "lambda"),
    ("list displays and comprehensions in square brackets", "lists"),
    ("rebinding a variable of the enclosing function's scope", "nonlocal"),
    ("integer, floating point and imaginary literals", "numbers"),
    ("a statement that does nothing at all", "pass"),
    ("raising a number to an exponent", "power"),
    ("throwing an exception with another exception as its cause", "raise"),
    ("giving a value back to the caller of a function", "return"),
    ("selecting a range of items from a sequence with start and stop", "slicings"),
    ("methods of str such as split, join and strip", "string-methods"),
    ("string literals, escape sequences and raw strings", "strings"),
    ("which values count as false in a condition", "truth"),
    ("handling errors with except and finally clauses", "try"),
    ("repeating a block as long as a condition holds", "while"),
    ("the with statement for managing resources", "with"),
    ("generator functions that produce values one at a time", "yield"),
    ("operations of dict objects such as get and update", "typesmapping"),
    ("operations common to lists, tuples and ranges", "typesseq"),
    ("negation and bitwise inversion of a single operand", "unary"),
    ("shifting the bits of an integer left and right", "shifting"),
    ("special method names that customize how a class behaves", "specialnames"),
    ("the interactive debugger and its commands", "debugger"),
    ("how names are resolved in blocks and scopes", "execmodel"),
)


@dataclass(frozen=True)
class RetrievalSet:
    queries: list[str]
    passages: list[str]
    relevant: list[frozenset[int]]  # per query, the indices of the passages that answer it
    source: str


def retrieval_set() -> RetrievalSet:
    from pydoc_data.topics import topics

    index: dict[str, int] = {}  # passage -> its position; some topics share a text
    by_topic: dict[str, list[int]] = {}
    for topic in sorted(topics):
        words = topics[topic].split()
        for piece in range(PIECES_PER_TOPIC):
            chunk = words[piece * PASSAGE_WORDS : (piece + 1) * PASSAGE_WORDS]
            if len(chunk) < PASSAGE_WORDS // 4:
                break
            passage = " ".join(chunk)
            by_topic.setdefault(topic, []).append(index.setdefault(passage, len(index)))
    passages = list(index)
    return RetrievalSet(
        queries=[query for query, _ in QUERIES],
        passages=passages,
        relevant=[frozenset(by_topic.get(topic, [])) for _, topic in QUERIES],
        source=f"pydoc_data.topics of Python {platform.python_version()}, "
        f"{len(QUERIES)} labelled queries",
    )
