"""`gateway understand` and `gateway test --intents`: what the bot makes of shoppers' words."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from flows.loader import check_file
from flows.model import Flow
from flows.understanding.evaluation import cross_validate
from flows.understanding.understander import IntentExamples, Understander


def load_flow_or_exit(path: Path) -> Flow:
    result = check_file(path, os.environ)
    if result.flow is None:
        for diag in result.errors:
            click.echo(diag.format(), err=True)
        sys.exit(1)
    return result.flow


def understanding_of(understander: Understander, text: str) -> dict[str, object]:
    """One message as `gateway understand --format json` prints it."""
    found = understander.understand(text)
    return {
        "text": text,
        "language": found.language.language if found.language else None,
        "intent": found.intent,
        "confidence": round(found.confidence, 3),
        "unsure": list(found.unsure),
        "entities": [{"kind": e.kind, "value": e.value, "text": e.text} for e in found.entities],
    }


@click.command()
@click.argument("args", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def understand(args: tuple[str, ...], fmt: str) -> None:
    """What the bot makes of each message: language, intent, confidence, entities.

    ARGS: an optional flows file (a path ending in .yaml/.yml), then messages; with no
    message, one a line from standard input.
    """
    path = None
    if args and args[0].endswith((".yaml", ".yml")) and Path(args[0]).exists():
        path, args = args[0], args[1:]
    flow = load_flow_or_exit(Path(path or os.environ.get("FLOWS_PATH") or "flows.yaml"))
    understander = flow.understander
    assert understander is not None  # every loaded flow has one
    messages = list(args) or [line.rstrip("\n") for line in sys.stdin]
    for text in messages:
        row = understanding_of(understander, text)
        if fmt == "json":
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        entities = ", ".join(f"{e['kind']}={e['value']}" for e in row["entities"])  # type: ignore[attr-defined]
        intent = row["intent"] or (
            "not understood" + (f" (maybe {' / '.join(row['unsure'])})" if row["unsure"] else "")  # type: ignore[arg-type]
        )
        click.echo(
            f"{text}\n  language {row['language'] or '-'}, intent {intent}, "
            f"confidence {row['confidence']}{', ' + entities if entities else ''}"
        )


def print_intent_report(flow: Flow) -> bool:
    """Cross-validated accuracy per intent and language; False when one is below 0.8."""
    examples = [
        IntentExamples(
            i.name, i.keywords, i.examples, tuple((lang, ex) for lang, _, ex in i.by_language)
        )
        for i in flow.intents
    ]
    tallies = cross_validate(examples, flow.settings.thresholds)
    weak = False
    click.echo(f"{'intent':<16} {'language':<9} {'accuracy':>8}  examples")
    for (name, language), tally in sorted(tallies.items()):
        flag = "" if tally.accuracy >= 0.8 else "  ← add examples"
        weak = weak or bool(flag)
        click.echo(f"{name:<16} {language:<9} {tally.accuracy:>8.2f}  {tally.total:>8}{flag}")
        for phrase, _ in tally.confused.most_common(3):
            click.echo(f"{'':<27}confused: {phrase}")
    right = sum(t.right for t in tallies.values())
    total = sum(t.total for t in tallies.values()) or 1
    click.echo(f"overall {right / total:.2f} over {total} examples (5-fold cross-validation)")
    return not weak
