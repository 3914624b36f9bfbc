"""`step()`: one shopper message in, the new state, the replies and the events out.

Pure and deterministic given its inputs (the flow, the state, the message and the `Services`
answers): no clock, no randomness, no I/O of its own. It never raises on shopper input.
Business hours are judged at the message's own timestamp (`Inbound.timestamp`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from flows.i18n.choice import LanguageState, choose_language
from flows.i18n.formatting import wait_phrase
from flows.i18n.languages import from_locale, from_phone, info
from flows.i18n.system_texts import system_text
from flows.matching import check_answer, match_button, match_intent, slot_value
from flows.messages import (
    Button,
    CallMade,
    ConversationEnded,
    ConversationStopped,
    Event,
    Fallback,
    FlowResumed,
    GoalReached,
    HandoffRequested,
    Inbound,
    InputInvalid,
    IntentMatched,
    NodeEntered,
    Rated,
    Reply,
    StepLimitReached,
    VariantAssigned,
)
from flows.model import PERSON_PAYLOAD, ButtonSpec, Flow, Intent, Node, SplitSpec, Variant
from flows.normalise import normalise
from flows.services import CallRequest, CallResponse, InboxStatus, NoServices, Services
from flows.split import choose_variant, in_rollout
from flows.state import ConversationState
from flows.step_context import build_context, render_body, render_buttons

MAX_HOPS = 50  # nodes one message may pass through; the validator rejects loops that never wait
QUESTION_CONFIDENCE = 0.5  # an intent this sure interrupts a question ("talk to a person")
INTENT_PAYLOAD = "intent:"  # a "did you mean" button: the intent's name follows
LANGUAGE_PAYLOAD = "language:"  # a language button: its BCP 47 code follows
# What asks for the language list, as folded text ("/language", "język", "اللغة", "語言").
COMMAND_MAX_CHARS = 30  # a language command or name is short; longer texts are not folded here
LANGUAGE_COMMANDS = frozenset({"language", "lang", "jezyk", "limba", "اللغه", "语言"})
FALLBACK_TEXT_LIMIT = 200
NO_SERVICES = NoServices()


@dataclass(frozen=True, slots=True)
class StepResult:
    state: ConversationState
    replies: tuple[Reply, ...]
    events: tuple[Event, ...]


def step(
    flow: Flow,
    state: ConversationState,
    inbound: Inbound,
    services: Services = NO_SERVICES,
) -> StepResult:
    """Advance one conversation by one shopper message."""
    run = _Run(flow, state, inbound, services)
    run.handle()
    return run.result()


def resume(
    flow: Flow,
    state: ConversationState,
    inbound: Inbound,
    services: Services = NO_SERVICES,
    node: str | None = None,
) -> StepResult:
    """Hand the conversation back to the bot after a person resolved it (at `node` if given).

    `inbound` is the shopper's latest message, for their name and channel in the texts.
    """
    run = _Run(flow, replace(state, mode="bot", queue=None, misses=0, retries=0), inbound, services)
    target = node or state.resume or flow.settings.resume_at
    run.enter(target if target in flow.nodes else flow.settings.resume_at)
    return run.result()


@dataclass(frozen=True, slots=True)
class Handback:
    """Where a reopened conversation goes: the queue, why, and where the bot resumes later."""

    queue: str
    reason: str
    resume_at: str | None = None


def reopen(
    flow: Flow,
    state: ConversationState,
    inbound: Inbound,
    services: Services,
    back: Handback,
) -> StepResult:
    """Put a conversation back with a person without a handoff node (the gateway reopens a
    just-resolved thread): handoff mode, the bot quiet, and the same honest notice (open, busy
    or closed) that a handoff node gives."""
    run = _Run(flow, state, inbound, services)
    run.mode, run.queue, run.resume = "handoff", back.queue, back.resume_at
    run.misses = run.retries = 0
    notice = run._handoff_notice(back.queue)
    run.events.append(HandoffRequested(back.queue, back.reason, state.node or "", notice))
    return run.result()


class _Run:
    """The working copy of one step; `result()` freezes it back into a `StepResult`."""

    def __init__(
        self, flow: Flow, state: ConversationState, inbound: Inbound, services: Services
    ) -> None:
        self.flow = flow
        self.initial = state
        self.inbound = inbound
        self.services = services
        self.node: str | None = state.node
        self.mode = state.mode
        self.vars = dict(state.vars)
        self.misses = state.misses
        self.retries = state.retries
        self.variants = state.variants
        self.queue = state.queue
        self.resume = state.resume
        self.replies: list[Reply] = []
        self.events: list[Event] = []
        # What the shopper wrote themselves: not a button, not an agent's action, not the
        # platform's own /start (Telegram sends it when a chat opens).
        self.typed = (
            bool(inbound.text)
            and not inbound.payload
            and inbound.kind
            not in (
                "agent",
                "start",
            )
        )
        self.speech = _language_of(flow, state, inbound, self.typed)
        self.language = self.speech.language or flow.source_language
        self.context = build_context(flow, inbound, self.vars, self.language)
        # The typed message that sent the shopper somewhere (an intent, an opener): a question
        # on the way whose answer it already holds is answered from it, not asked.
        self.prefill: str | None = None
        self._prompt_at: int | None = None  # where the last waiting node's question is
        self.offer: tuple[str, ...] = ()  # buttons offered outside a node, for the next turn

    # ---- the shopper's message ----

    def handle(self) -> None:
        state, flow = self.initial, self.flow
        if state.mode == "handoff" or self.inbound.kind == "agent":
            return  # a person has this conversation: the bot stays quiet
        self._take_offer()
        if self._language_command():
            return
        if self.inbound.kind == "start" or self._is_new():
            self._start()
            return
        assert state.node is not None  # _is_new() is true for a state waiting at no node
        node = flow.nodes.get(state.node)
        if node is None:
            self.events.append(FlowResumed(state.node, flow.settings.resume_at, flow.version))
            self.enter(flow.settings.resume_at)
            return
        if not node.waits:  # a reload turned the question into something else: run it
            self.enter(node.id)
            return
        self._answer(node)

    def _start(self) -> None:
        if self.initial.mode == "ended":
            self.vars.clear()
        param = self.inbound.extra("start_param")
        if param:
            self.vars["ref"] = param
        self.misses = self.retries = 0
        self.enter(self.flow.settings.start)
        self._opener()
        setting = self.flow.settings.disclosure
        disclosure = setting.render(self.inbound.channel, self.context) if setting else None
        told = not disclosure or any(disclosure in r.text for r in self.replies)
        if self.initial.turns == 0 and self.replies and not told:
            first = self.replies[0]
            self.replies[0] = replace(first, text=f"{first.text}\n\n{disclosure}".strip())

    def _opener(self) -> None:
        """The first message is understood, not thrown away: "where is my order A1234" gets
        the greeting and then the answer, without the menu in between or a question asked."""
        if self.mode != "bot" or self.node is None or not (self.typed or self.inbound.payload):
            return
        node = self.flow.nodes[self.node]
        prompt_at = self._prompt_at
        before = len(self.replies)
        if not self._understood(node):
            return
        if prompt_at is not None and prompt_at < before:
            del self.replies[prompt_at]  # the menu the opener already answered

    def _understood(self, node: Node) -> bool:
        """Act on a message at a waiting node only if it is understood: a button, an intent's
        button, or a sure intent (an opener that is not understood stays unanswered: the
        greeting and the menu are the answer)."""
        text, payload = self.inbound.text, self.inbound.payload
        if payload and payload.startswith(INTENT_PAYLOAD):
            return self._intent_button(node, payload)
        chosen = match_button(text, payload, node.choices, fuzzy=None)
        if chosen is not None:
            self._choose(node, chosen)
            return True
        if not self.typed:
            return False
        name = self._intent()[0]
        if name is None:
            return False
        self._go_intent(node, name)
        return True

    def _intent(self) -> tuple[str | None, float, tuple[str, ...]]:
        """The flow intent a typed message means (keywords, then the classifier), its
        confidence, and the likely ones when it is unsure."""
        understander = self.flow.understander
        text = self.inbound.text
        if understander is None:
            settings = self.flow.settings
            found = match_intent(
                text, self.flow.intents, settings.keyword_max_words, settings.fuzzy_threshold
            )
            return (found.name if found else None), 1.0, ()
        return understander.intent(text)

    def _new_request(self, node: Node) -> tuple[str | None, tuple[str, ...]]:
        """The intent of a typed message that asks for something other than what the node
        waits for. At a question, a valid answer is an answer, an intent leading back to the
        same question is a wrong answer, and only a clear request interrupts ("the blue
        ones" is a poor order number, not a product question)."""
        ask = node.ask
        answered = ask is not None and ask.validation.kind != "any"
        if ask is not None and answered and check_answer(self.inbound.text, ask.validation)[0]:
            return None, ()
        name, confidence, unsure = self._intent()
        if ask is None or name is None:
            return name, unsure
        if self._intent_target(name) == node.id or confidence < QUESTION_CONFIDENCE:
            return None, ()
        return name, unsure

    def _intent_named(self, name: str) -> Intent | None:
        return next((i for i in self.flow.intents if i.name == name), None)

    def _intent_target(self, name: str) -> str | None:
        intent = self._intent_named(name)
        return intent.goto if intent is not None else None

    def _go_intent(self, node: Node, name: str) -> None:
        intent = self._intent_named(name)
        assert intent is not None  # the understander and the offers know only flow intents
        self.events.append(IntentMatched(intent.name, node.id))
        self.misses = self.retries = 0
        self.prefill = self.inbound.text if self.typed else None
        self.enter(intent.goto)

    def _intent_button(self, node: Node, payload: str) -> bool:
        name = payload.removeprefix(INTENT_PAYLOAD)
        if self._intent_named(name) is None:
            return False
        self._go_intent(node, name)
        return True

    def _answer(self, node: Node) -> None:
        settings = self.flow.settings
        text, payload = self.inbound.text, self.inbound.payload
        typed = self.typed
        if payload and payload.startswith(INTENT_PAYLOAD) and self._intent_button(node, payload):
            return
        numbers = node.ask is None or bool(node.buttons)  # a bare question takes numbers as answers
        chosen = match_button(text, payload, node.choices, fuzzy=None, numbers=numbers)
        unsure: tuple[str, ...] = ()
        if chosen is None and typed:
            intent_name, unsure = self._new_request(node)
            if intent_name is not None:
                self._go_intent(node, intent_name)
                return
            if node.ask is None:
                chosen = match_button(text, None, node.choices, fuzzy=settings.fuzzy_threshold)
        if chosen is None and node.ask is not None and typed:
            ok, value = check_answer(text, node.ask.validation)
            if not ok:  # "my order number is A1234": the answer inside a sentence
                value = slot_value(text, node.ask.validation)
                ok = value is not None
            if ok and (node.next or not node.buttons):
                self._save(node, node.ask.variable, value)
                self.enter(node.next)
                return
            # Not a valid answer: perhaps a misspelt suggestion button ("fiev" for "5")?
            chosen = match_button(text, None, node.choices, fuzzy=settings.fuzzy_threshold)
            if chosen is None:
                self._invalid(node)
                return
        if chosen is not None:
            self._choose(node, chosen)
            return
        self._fallback(node, unsure)

    def _choose(self, node: Node, button: ButtonSpec) -> None:
        self.misses = self.retries = 0
        for name, value in button.assign:
            self.vars[name] = value.evaluate(self.context)
        if node.ask is not None and button.payload != PERSON_PAYLOAD:
            self._save(node, node.ask.variable, button.value)
        self.enter(button.goto or node.next)

    def _save(self, node: Node, name: str, value: Any) -> None:
        self.vars[name] = value
        self.misses = self.retries = 0
        kind = self.flow.ratings.get(name)
        if kind is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            self.events.append(Rated(kind, int(value), node.id))

    def _invalid(self, node: Node) -> None:
        ask = node.ask
        assert ask is not None
        self.retries += 1
        self.events.append(InputInvalid(node.id, ask.variable, self.retries))
        if self.retries > ask.retries:
            self.retries = 0
            target = ask.on_invalid or self.flow.settings.fallback_then
            if target:
                self.enter(target)
                return
        sorry = ask.retry or self.flow.settings.fallback
        self._prompt(node, prefix=sorry.render(self.inbound.channel, self.context))

    def _fallback(self, node: Node, unsure: tuple[str, ...] = ()) -> None:
        self.misses += 1
        said = self.inbound.text[:FALLBACK_TEXT_LIMIT]
        self.events.append(Fallback(node.id, said, self.misses, self.language))
        settings = self.flow.settings
        if self.misses >= settings.max_misses and settings.fallback_then:
            self.misses = 0
            self.enter(settings.fallback_then)
            return
        offered = self._did_you_mean(unsure)
        if offered:
            self.replies.append(
                Reply(system_text("did_you_mean", self.language), offered, expects="choice")
            )
            self.offer = tuple(b.payload for b in offered)
            return
        self._prompt(node, prefix=settings.fallback.render(self.inbound.channel, self.context))

    def _did_you_mean(self, unsure: tuple[str, ...]) -> tuple[Button, ...]:
        """When the bot hesitates between two or three intents, it offers them as buttons."""
        out = []
        for name in unsure:
            intent = self._intent_named(name)
            if intent is not None and intent.title is not None:
                title = intent.title.in_language(self.language)
                out.append(Button(title, INTENT_PAYLOAD + name))
        return tuple(out) if len(out) >= 2 else ()

    # ---- the shopper's language ----

    def _language_command(self) -> bool:
        """A language button, "/language", or a language's own name ("polski", "中文")
        typed alone: the shopper picks the language (a button offers each of the flow's)."""
        payload, flow = self.inbound.payload or "", self.flow
        if payload.startswith(LANGUAGE_PAYLOAD):
            code = payload.removeprefix(LANGUAGE_PAYLOAD)
            if code in flow.languages:
                self._set_language(code)
                return True
            return False
        if not self.typed or len(flow.languages) < 2 or len(self.inbound.text) > COMMAND_MAX_CHARS:
            return False
        said = normalise(self.inbound.text)
        if said in LANGUAGE_COMMANDS:
            if self._is_new():
                self._start()  # a first message: the greeting and disclosure come first
            buttons = tuple(
                Button(info(code).name, LANGUAGE_PAYLOAD + code) for code in flow.languages
            )
            text = system_text("choose_language", self.language)
            self.replies.append(Reply(text, buttons, expects="choice"))
            self.offer = tuple(b.payload for b in buttons)
            return True
        for code in flow.languages:
            names = {normalise(info(code).name), normalise(info(code).english)}
            if said in names:
                self._set_language(code)
                return True
        return False

    def _take_offer(self) -> None:
        """A number or title typed for buttons offered outside a node ("did you mean", the
        language list: a numbered list on WhatsApp) picks from that offer, not the node's."""
        offer = self.initial.offer
        if not offer or not self.typed:
            return
        wanted = normalise(self.inbound.text) if len(self.inbound.text) <= 60 else ""
        if wanted.isdigit() and 1 <= int(wanted) <= len(offer):
            chosen: str | None = offer[int(wanted) - 1]
        else:
            chosen = next((p for p in offer if wanted and wanted in self._offer_titles(p)), None)
        if chosen is not None:
            self.inbound = replace(self.inbound, text="", payload=chosen, kind="button")
            self.typed = False

    def _offer_titles(self, payload: str) -> set[str]:
        if payload.startswith(LANGUAGE_PAYLOAD):
            code = payload.removeprefix(LANGUAGE_PAYLOAD)
            return {normalise(info(code).name), normalise(info(code).english)}
        intent = self._intent_named(payload.removeprefix(INTENT_PAYLOAD))
        title = intent.title if intent is not None else None
        return {normalise(t) for t in title.all()} if title is not None else set()

    def _is_new(self) -> bool:
        """A conversation that starts with this message (new, ended, or nowhere to resume)."""
        return self.initial.mode in ("new", "ended") or self.initial.node is None

    def _set_language(self, code: str) -> None:
        self.speech = LanguageState(code)
        self.language = code
        self.context = build_context(self.flow, self.inbound, self.vars, code)
        self.replies.append(Reply(system_text("language_set", code)))
        if self.initial.node is not None and self.initial.mode == "bot":
            node = self.flow.nodes.get(self.initial.node)
            if node is not None and node.waits:
                self._prompt(node)  # the question again, now in the chosen language
                return
        self._start()

    # ---- walking the tree ----

    def enter(self, node_id: str | None) -> None:
        """Run nodes from `node_id` until one waits for the shopper, hands off or ends."""
        hops = 0
        while node_id is not None:
            hops += 1
            if hops > MAX_HOPS:
                self.events.append(StepLimitReached(node_id))
                self.node, self.mode = None, "ended"
                return
            node = self.flow.nodes[node_id]
            node_id = self._run_node(node)

    def _run_node(self, node: Node) -> str | None:
        self.events.append(NodeEntered(node.id))
        self.retries = 0
        if node.goal:
            self.events.append(GoalReached(node.goal, node.id))
        for name, value in node.assign:
            self.vars[name] = value.evaluate(self.context)
        if node.ask is not None and self.prefill is not None:
            value = slot_value(self.prefill, node.ask.validation)
            if value is not None:
                self._save(node, node.ask.variable, value)
                self.prefill = None
                return node.next
        if node.waits:
            if node.ask is not None and node.say is not None:
                self.replies.append(Reply(node.say.render(self.inbound.channel, self.context)))
            self._prompt_at = len(self.replies)
            self._prompt(node)
            self.node, self.mode = node.id, "bot"
            self.prefill = None
            return None
        if node.say is not None:
            self._say(node)
        if node.call is not None:
            return self._call(node)
        if node.switch:
            return self._switch(node)
        if node.split is not None:
            return self._split(node)
        if node.handoff is not None:
            self.mode, self.node = "handoff", node.id
            self.queue, self.resume = node.handoff.queue, node.handoff.then
            notice = self._handoff_notice(node.handoff.queue)
            self.events.append(
                HandoffRequested(node.handoff.queue, node.handoff.reason, node.id, notice)
            )
            return None
        if node.end:
            self.mode, self.node = "ended", None
            done = (
                ConversationStopped(node.id) if node.end == "stop" else ConversationEnded(node.id)
            )
            self.events.append(done)
            return None
        return node.next

    def _say(self, node: Node) -> None:
        assert node.say is not None
        call = node.call_link.render(self.context) if node.call_link else None
        self.replies.append(
            Reply(node.say.render(self.inbound.channel, self.context), call=call or None)
        )

    def _handoff_notice(self, queue: str) -> str:
        """Tell the shopper honestly what happens next: open, busy (nobody on duty) or closed."""
        notices = self.flow.settings.handoff_notice
        if not self.context["hours"]["open"]:
            kind = "closed"
        else:
            try:
                status = self.services.inbox_status(queue)
            except Exception:  # an inbox outage must not break the handoff itself
                status = None
            kind = "busy" if status is not None and status.agents_on_duty == 0 else "open"
            self.context["handoff"] = _handoff_facts(queue, status, self.language)
        if notices is not None:
            text = getattr(notices, kind).render(self.inbound.channel, self.context)
            if text:
                self.replies.append(Reply(text))
        return kind

    def _person_shown(self, node: Node) -> tuple[Button, ...]:
        """The node's buttons; outside business hours the person button is hidden or becomes
        a call button, so nobody is offered a person who is not there."""
        person = self.flow.settings.person_button
        all_shown = node.shown_for(self.language)
        if person is None or self.context["hours"]["open"]:
            return all_shown
        pairs = zip(node.choices, all_shown, strict=True)
        shown = tuple(b for c, b in pairs if c.goto != person.goto)
        if len(shown) == len(all_shown) or person.closed_call is None or not person.closed_title:
            return shown
        number = person.closed_call.render(self.context)
        return (*shown, Button(person.closed_title, number, "call")) if number else shown

    def _prompt(self, node: Node, prefix: str = "") -> None:
        """The question or menu of a waiting node, with its buttons (and the person button)."""
        channel = self.inbound.channel
        expects: Literal["text", "choice"]
        if node.ask is not None:
            text, expects = node.ask.prompt.render(channel, self.context), "text"
        else:
            text = node.say.render(channel, self.context) if node.say else ""
            expects = "choice"
        if prefix:
            text = f"{prefix}\n\n{text}" if text else prefix
        buttons = self._person_shown(node)
        links = tuple(b for b in node.buttons if b.kind != "reply")
        if links:
            buttons += render_buttons(links, self.context, self.language)
        call = node.call_link.render(self.context) if node.call_link else None
        self.replies.append(Reply(text, buttons=buttons, call=call or None, expects=expects))

    def _call(self, node: Node) -> str | None:
        spec = node.call
        assert spec is not None
        request = CallRequest(
            method=spec.method,
            url=spec.url.render(self.context),
            headers=tuple((k, v.render(self.context)) for k, v in spec.headers),
            json=render_body(spec.body, self.context),
            timeout=spec.timeout,
        )
        try:
            response = self.services.call(request)
        except Exception as exc:  # a broken Services must not break the conversation
            response = CallResponse(status=None, error=f"{type(exc).__name__}")
        self.events.append(
            CallMade(
                node.id, request.method, request.url, response.status, response.ok, response.error
            )
        )
        if spec.save:
            self.vars[spec.save] = response.json if response.ok else None
        if not response.ok and spec.on_error:
            return spec.on_error
        return node.next

    def _switch(self, node: Node) -> str | None:
        for case in node.switch:
            if case.when is None:
                return case.goto
            try:
                if case.when(self.context):
                    return case.goto
            except Exception:  # an expression failing on this shopper's data is simply false
                continue
        return None

    def _split(self, node: Node) -> str:
        split = node.split
        assert split is not None
        experiment = self.flow.experiments.get(split.experiment)
        at = self.inbound.timestamp
        if experiment is not None and at > 0 and experiment.stopped(at):
            return _variant(split, experiment.winner or experiment.default).goto
        sticky = self.initial.variant(split.experiment) or _lookup(self.variants, split.experiment)
        chosen = next((v for v in split.variants if v.name == sticky), None)
        if chosen is None and experiment is not None:
            running = at <= 0 or experiment.running(at)
            key = self.inbound.key
            if not running or not in_rollout(split.experiment, key, experiment.rollout):
                return _variant(split, experiment.default).goto  # outside: not assigned
        if chosen is None:
            chosen = choose_variant(split, self.inbound.key)
            self.variants = (*(p for p in self.variants if p[0] != split.experiment),
                             (split.experiment, chosen.name))  # fmt: skip
            self.events.append(VariantAssigned(split.experiment, chosen.name, node.id))
        return chosen.goto

    def result(self) -> StepResult:
        state = ConversationState(
            node=self.node,
            mode=self.mode,
            vars=self.vars,
            misses=self.misses,
            retries=self.retries,
            variants=self.variants,
            version=self.flow.version,
            turns=self.initial.turns + 1,
            queue=self.queue if self.mode == "handoff" else None,
            resume=self.resume if self.mode == "handoff" else None,
            language=self.speech.language,
            heard=self.speech.heard,
            heard_count=self.speech.heard_count,
            offer=self.offer,
        )
        return StepResult(state, tuple(self.replies), tuple(self.events))


def _handoff_facts(queue: str, status: InboxStatus | None, language: str) -> dict[str, Any]:
    if status is None:
        return {"queue": queue, "waiting": None, "agents": None, "wait": ""}
    return {
        "queue": queue,
        "waiting": status.waiting,
        "agents": status.agents_on_duty,
        "wait": wait_phrase(status.wait_s, language),
    }


def _lookup(pairs: tuple[tuple[str, str], ...], key: str) -> str | None:
    return next((v for k, v in pairs if k == key), None)


def _variant(split: SplitSpec, name: str | None) -> Variant:
    """The named variant of a split, or its first (the default of an experiment's settings)."""
    return next((v for v in split.variants if v.name == name), split.variants[0])


def _language_of(
    flow: Flow, state: ConversationState, inbound: Inbound, typed: bool
) -> LanguageState:
    """The conversation's language after this message (see `flows.i18n.choice`)."""
    known = LanguageState(state.language, state.heard, state.heard_count)
    languages = flow.languages
    if len(languages) == 1:
        return LanguageState(languages[0])
    guess = None
    if typed and flow.understander is not None and not inbound.text.startswith("/"):
        guess = flow.understander.language(inbound.text)  # a /command says nothing of it
    if known.language in languages and guess is None:
        return known
    shopper = inbound.shopper
    hint = from_locale(shopper.locale, languages) or from_phone(shopper.phone, languages)
    return choose_language(known, guess, hint, languages)
