"""The compiled conversation tree: immutable, versioned, shared by every conversation.

`loader.py` builds it from flows.yaml; `engine.py` walks it. Nothing here changes after load,
so one `Flow` can serve all worker threads at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from flows.hours import BusinessHours
from flows.messages import Button
from flows.normalise import normalise
from flows.templates import Template
from flows.understanding.understander import Thresholds

if TYPE_CHECKING:
    from flows.understanding.understander import Understander

Context = Mapping[str, Any]
PERSON_PAYLOAD = "person"  # the payload of the "talk to a person" button added to questions


@dataclass(frozen=True, slots=True)
class Wording:
    """One language's version of a text, with optional per-channel wording."""

    default: Template
    channels: tuple[tuple[str, Template], ...] = ()

    def render(self, channel: str, context: Context) -> str:
        for name, template in self.channels:
            if name == channel:
                return template.render(context)
        return self.default.render(context)


@dataclass(frozen=True, slots=True)
class Text:
    """A message in the flow's source language with optional per-channel wording
    (WhatsApp, Messenger and Telegram differ), and its translations.

    The language comes from the context (`context["language"]`, the shopper's), so every part
    that renders a text speaks the shopper's language without being told separately.
    """

    default: Template
    channels: tuple[tuple[str, Template], ...] = ()
    translations: tuple[tuple[str, Wording], ...] = ()

    def render(self, channel: str, context: Context) -> str:
        if self.translations:
            language = context.get("language")
            for name, wording in self.translations:
                if name == language:
                    return wording.render(channel, context)
        for name, template in self.channels:
            if name == channel:
                return template.render(context)
        return self.default.render(context)

    def sources(self) -> list[str]:
        out = [self.default.source, *(t.source for _, t in self.channels)]
        for _, wording in self.translations:
            out += [wording.default.source, *(t.source for _, t in wording.channels)]
        return out


@dataclass(frozen=True, slots=True)
class Label:
    """A short plain text (a button's title) in the source language and its translations."""

    source: str
    translations: tuple[tuple[str, str], ...] = ()

    def in_language(self, language: str | None) -> str:
        for name, text in self.translations:
            if name == language:
                return text
        return self.source

    def all(self) -> list[str]:
        return [self.source, *(text for _, text in self.translations)]


@dataclass(frozen=True, slots=True)
class Value:
    """A value for `set`: a literal, a text template, or a typed expression (`{{ vars.n + 1 }}`)."""

    literal: Any = None
    template: Template | None = None
    expression: Callable[[Context], Any] | None = None
    source: str = ""

    def evaluate(self, context: Context) -> Any:
        if self.expression is not None:
            try:
                return self.expression(context)
            except Exception:  # sandbox violations and type errors alike: the value is unknown
                return None
        if self.template is not None:
            return self.template.render(context)
        return self.literal


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    title: str
    payload: str
    goto: str | None
    value: Any  # what an `ask` saves when this button is tapped
    assign: tuple[tuple[str, Value], ...] = ()
    kind: Literal["reply", "url", "call"] = "reply"
    url: Template | None = None
    titles: tuple[tuple[str, str], ...] = ()  # the title in the flow's other languages
    norm: str = ""  # the title folded for matching, filled in at construction
    norms: tuple[str, ...] = ()  # every language's title folded: any of them picks the button

    def __post_init__(self) -> None:
        if not self.norm:
            object.__setattr__(self, "norm", normalise(self.title))
        if not self.norms:
            folded = (self.norm, *(normalise(t) for _, t in self.titles))
            object.__setattr__(self, "norms", tuple(dict.fromkeys(f for f in folded if f)))

    def title_in(self, language: str | None) -> str:
        for name, text in self.titles:
            if name == language:
                return text
        return self.title


ValidationKind = Literal["regex", "number", "email", "phone", "one_of", "any"]


@dataclass(frozen=True, slots=True)
class Validation:
    kind: ValidationKind = "any"
    pattern: Any = None  # compiled regex for `regex`
    low: float | None = None
    high: float | None = None
    integer: bool = False
    options: tuple[str, ...] = ()
    transform: Literal["", "upper", "lower"] = ""


@dataclass(frozen=True, slots=True)
class AskSpec:
    variable: str
    prompt: Text
    validation: Validation
    retry: Text | None
    retries: int
    on_invalid: str | None


@dataclass(frozen=True, slots=True)
class CallSpec:
    method: str
    url: Template
    headers: tuple[tuple[str, Template], ...]
    body: Any  # JSON-like structure whose strings are Templates
    timeout: float
    save: str | None
    on_error: str | None


@dataclass(frozen=True, slots=True)
class Case:
    goto: str
    when: Callable[[Context], Any] | None = None  # None: the `else` branch
    source: str = ""


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    weight: float
    goto: str


@dataclass(frozen=True, slots=True)
class SplitSpec:
    experiment: str
    variants: tuple[Variant, ...]


@dataclass(frozen=True, slots=True)
class HandoffSpec:
    queue: str
    reason: str
    then: str | None  # where the bot resumes after an agent resolves the thread


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    line: int
    say: Text | None = None
    assign: tuple[tuple[str, Value], ...] = ()
    goal: str | None = None
    call_link: Template | None = None
    buttons: tuple[ButtonSpec, ...] = ()
    ask: AskSpec | None = None
    call: CallSpec | None = None
    switch: tuple[Case, ...] = ()
    split: SplitSpec | None = None
    handoff: HandoffSpec | None = None
    end: Literal["", "end", "stop"] = ""
    next: str | None = None
    # Filled in by the loader once settings are known: the reply buttons a shopper may pick here
    # (the node's own plus the person button), and the same as ready-made `Button`s.
    choices: tuple[ButtonSpec, ...] = ()
    shown: tuple[Button, ...] = ()
    shown_in: tuple[tuple[str, tuple[Button, ...]], ...] = ()  # `shown` in other languages

    def shown_for(self, language: str | None) -> tuple[Button, ...]:
        for name, buttons in self.shown_in:
            if name == language:
                return buttons
        return self.shown

    @property
    def waits(self) -> bool:
        """A node that waits for the shopper: a menu of buttons or a question."""
        return bool(self.buttons) or self.ask is not None

    def targets(self) -> list[str]:
        """Every node this one can lead to, for the graph checks and pictures."""
        out = [b.goto for b in self.buttons if b.goto]
        if self.ask and self.ask.on_invalid:
            out.append(self.ask.on_invalid)
        if self.call and self.call.on_error:
            out.append(self.call.on_error)
        out += [c.goto for c in self.switch]
        if self.split:
            out += [v.goto for v in self.split.variants]
        if self.handoff and self.handoff.then:
            out.append(self.handoff.then)
        if self.next:
            out.append(self.next)
        return out


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    keywords: tuple[str, ...]  # normalised words or phrases, every language together
    examples: tuple[str, ...]  # normalised example phrases, every language together
    goto: str
    line: int
    padded: tuple[str, ...] = ()  # keywords with a space each side, for whole-word search
    title: Label | None = None  # what a "did you mean" button says
    # (language, keywords, examples) as written, for the tools that show them to marketers
    by_language: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "padded", tuple(f" {k} " for k in self.keywords))


@dataclass(frozen=True, slots=True)
class PersonButton:
    """The "Talk to a person" button on every menu. Outside business hours it is hidden, or
    replaced by a tap-to-call button (`closed_title`, `closed_call`) when the shop has one."""

    title: str
    goto: str
    closed_title: str | None = None
    closed_call: Template | None = None
    titles: tuple[tuple[str, str], ...] = ()  # `title` in the flow's other languages


@dataclass(frozen=True, slots=True)
class HandoffNotices:
    """What a shopper is told after a handoff: a person joins (`open`), nobody is on duty
    right now (`busy`), or the team is off duty until the next opening (`closed`)."""

    open: Text
    busy: Text
    closed: Text


@dataclass(frozen=True, slots=True)
class Settings:
    start: str
    resume_at: str
    fallback: Text
    max_misses: int
    fallback_then: str | None
    person_button: PersonButton | None
    disclosure: Text | None
    fuzzy_threshold: float = 85.0
    keyword_max_words: int = 4
    languages: tuple[str, ...] = ("en",)
    handoff_notice: HandoffNotices | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    goals: tuple[str, ...] = ()  # goals that count as success; () means every goal
    csat: str | None = None  # the variable holding the 1-5 satisfaction answer
    nps: str | None = None  # the variable holding the 0-10 recommend answer
    start: date | None = None  # first day (UTC) shoppers enter it
    stop: date | None = None  # first day (UTC) it no longer runs
    rollout: float = 1.0  # share of shoppers that enter it at all
    default: str | None = None  # variant for shoppers outside it (default: the first)
    winner: str | None = None  # variant for everyone once it has stopped (default: `default`)
    abandon_after_s: float = 1800.0  # silent this long on a bot question, no goal: abandoned
    agent_cost_per_hour: float | None = None  # for cost per conversation in the report
    min_effect: float = 0.05  # the smallest difference in a rate worth detecting
    alpha: float = 0.05  # the report's error rate for "a winner"

    def running(self, at: float) -> bool:
        """Whether shoppers are being assigned at `at` (epoch seconds)."""
        day = datetime.fromtimestamp(at, UTC).date()
        started = self.start is None or day >= self.start
        return started and (self.stop is None or day < self.stop)

    def stopped(self, at: float) -> bool:
        return self.stop is not None and datetime.fromtimestamp(at, UTC).date() >= self.stop


@dataclass(frozen=True, slots=True)
class Flow:
    """One immutable version of a flows file. `version` is a hash of its text."""

    file: str
    version: str
    settings: Settings
    nodes: Mapping[str, Node]
    intents: tuple[Intent, ...]
    shop: Mapping[str, Any]
    env: Mapping[str, str]
    canned: Mapping[str, str] = field(default_factory=dict)
    canned_in: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # name -> lang -> text
    shop_in: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # lang -> shop facts
    raw: Mapping[str, Any] = field(default_factory=dict)  # sections later features read
    hours: BusinessHours | None = None  # None: people are on duty whenever an agent is
    experiments: Mapping[str, Experiment] = field(default_factory=dict)
    ratings: Mapping[str, str] = field(default_factory=dict)  # variable -> csat or nps
    understander: Understander | None = None  # None: keywords and close examples only

    @property
    def languages(self) -> tuple[str, ...]:
        return self.settings.languages

    @property
    def source_language(self) -> str:
        return self.settings.languages[0]
