"""The document for an escalation policy: its levels in order, who each one pages and when."""

from __future__ import annotations

from collections.abc import Sequence

from pdsearch.documents.context import AccountContext, is_schedule, sys_racl
from pdsearch.documents.meaning import meaning, services_words, teams_about_line
from pdsearch.documents.names import id_line, team_line, title, user_words
from pdsearch.documents.words import counted, join
from pdsearch.index.base import Document
from pdsearch.pagerduty.models import EscalationPolicy, EscalationRule, Reference

POLICY_TYPE = "escalation_policy"

_HANDOFF_WORDS = {
    "always": "always (sent even when no service uses this policy)",
    "if_has_services": "only if the policy has services",
}
_STRATEGY_WORDS = {
    "round_robin": "round robin (one target at a time, in turn)",
    "assign_to_everyone": "assigned to everyone",
}


def policy_document(policy: EscalationPolicy, ctx: AccountContext, source: str) -> Document:
    """The document for one escalation policy."""
    name = title(policy.name, policy.summary, policy.id)
    rules = policy.escalation_rules
    lines = [f"Escalation policy '{name}' with {counted(len(rules), 'level')}."]
    if policy.description and policy.description.strip():
        lines.append(f"Description: {policy.description.strip()}")
    lines.append(f"{counted(len(rules), 'level')} of escalation. {_repeats(policy.num_loops)}")
    elapsed = 0
    # A user's e-mail is given at the first mention only: once is enough to find them by it.
    named: set[str] = set()
    for index, rule in enumerate(rules):
        lines.append(_level_line(index, rule, rules, elapsed, policy.num_loops, ctx, named))
        elapsed += max(rule.escalation_delay_in_minutes, 0)
    handoff = policy.on_call_handoff_notifications
    if handoff:
        words = _HANDOFF_WORDS.get(handoff, handoff.replace("_", " "))
    else:
        words = "not set (PagerDuty's default: only if the policy has services)"
    # PagerDuty labels this "on-call handoff notifications"; "on call" is in nearly every
    # document, so the label keeps to the words that tell policies apart.
    lines.append(f"Handoff notifications: {words}.")
    lines.append(team_line(policy.teams, ctx))
    about = teams_about_line(policy.teams, ctx)
    if about:
        lines.append(about)
    services = services_words(policy.services, ctx)
    lines.append(f"Services: {services}." if services else "Services: none.")
    lines.append(id_line(policy.id))
    return Document(
        id=f"{POLICY_TYPE}:{policy.id}",
        type=POLICY_TYPE,
        title=name,
        content="\n".join(lines),
        url=policy.html_url or "",
        sys_racl=sys_racl(ctx.subdomain, policy.teams),
        source=source,
        meaning=meaning(name, policy.teams, policy.services, policy.description, ctx),
    )


def _level_line(
    index: int,
    rule: EscalationRule,
    rules: Sequence[EscalationRule],
    elapsed: int,
    loops: int,
    ctx: AccountContext,
    named: set[str],
) -> str:
    number = index + 1
    if index == 0:
        when = "immediately"
    else:
        step = rules[index - 1].escalation_delay_in_minutes
        when = f"after {counted(step, 'minute')}"
        # The time since the trigger is added where it is a different number from the step
        # (on level 2 they are the same).
        if index > 1 and elapsed != step:
            when += f" ({counted(elapsed, 'minute')} after the incident was triggered)"
    targets = [_target_words(t, ctx, named) for t in rule.targets]
    text = f"Level {number}: {when}, notify {join(targets) if targets else 'nobody (no targets)'}."
    strategy = rule.escalation_rule_assignment_strategy
    # PagerDuty's default (assign to everyone) goes unsaid; anything else is worth reading.
    if strategy and strategy != "assign_to_everyone":
        text += f" Assignment: {_STRATEGY_WORDS.get(strategy, strategy.replace('_', ' '))}."
    if number == len(rules) and number > 1:
        text += f" This is the last of {counted(number, 'level')}."
    # The delay before the next level is said once, on that level ("Level 2: after 30
    # minutes"); only the last level's delay is said here: the wait before a repeat, or, when
    # the policy does not repeat, the delay PagerDuty keeps although nothing follows it.
    if number == len(rules):
        delay = rule.escalation_delay_in_minutes
        if loops > 0:
            text += (f" Starts again at level 1 after {counted(delay, 'minute')} if not "
                     "acknowledged.")
        else:
            text += (f" Escalates after {counted(delay, 'minute')}, but the policy does not "
                     "repeat, so no one else is notified.")
    return text


def _repeats(num_loops: int) -> str:
    if num_loops <= 0:
        return "Does not repeat."
    return (f"Repeats {counted(num_loops, 'time')}: if no one acknowledges after the last level, "
            "escalation starts again at level 1.")


def _target_words(target: Reference, ctx: AccountContext, named: set[str]) -> str:
    if is_schedule(target):
        name = ctx.schedule_names.get(target.id) or target.summary or target.id
        return f"schedule '{name}'"
    if target.type in ("user", "user_reference"):
        words = user_words(target.id, ctx, target, email=target.id not in named)
        named.add(target.id)
        return f"user {words}"
    kind = target.type.removesuffix("_reference").replace("_", " ") or "target"
    return f"{kind} '{target.summary or target.id}'"
