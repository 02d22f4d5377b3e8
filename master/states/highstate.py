"""Salt-highstate-like output of an apply, for people (rich) and as data (--json), secrets masked.

Per minion, states that changed something, failed, or would change (test mode) are shown in full: ID,
function, name, result, comment, duration and changes with diffs; states already right take one line each.
Then `Succeeded: N (changed=M)  Failed: K  Total run time: T`. A minion that did not answer is named.
"""

import json
import re
from typing import Any

from rich.console import Console
from rich.text import Text

from hamaster.master.states.pairlint import Lint
from hamaster.core.secrets import mask_data, mask_text
from hamaster.core.timeutil import human_duration

_SECRET_KEY = re.compile(r"auth_pass|pass(word|wd)?$|token|secret|api_?key", re.IGNORECASE)
RESULT_STYLE = {True: "green", None: "yellow", False: "red"}


def pillar_secrets(pillar: Any, secret: bool = False) -> list[str]:
    """Values under keys named like auth_pass, password, token, secret (and everything below such a key)."""
    if isinstance(pillar, dict):
        return [s for k, v in pillar.items() for s in pillar_secrets(v, secret or bool(_SECRET_KEY.search(str(k))))]
    if isinstance(pillar, list):
        return [s for v in pillar for s in pillar_secrets(v, secret)]
    return [str(pillar)] if secret and pillar not in (None, "") and not isinstance(pillar, bool) else []


def summarize(results: dict[str, dict[str, Any] | None]) -> dict[str, int]:
    total = {"succeeded": 0, "changed": 0, "failed": 0, "missing": 0}
    for result in results.values():
        if result is None:
            total["missing"] += 1
            continue
        for key in ("succeeded", "changed", "failed"):
            total[key] += result.get("summary", {}).get(key, 0)
    return total


def as_json(results: dict[str, dict[str, Any] | None], lints: list[Lint], notes: dict[str, str],
            secrets: list[str]) -> str:
    data = {
        "minions": {m: mask_data(r, secrets) for m, r in results.items()},
        "notes": {m: mask_text(n, secrets) for m, n in notes.items()},
        "lint": [{"severity": x.severity, "instance": x.instance, "message": x.message} for x in lints],
        "summary": summarize(results),
    }
    return json.dumps(data, indent=2, sort_keys=True)


def print_lints(console: Console, lints: list[Lint]) -> None:
    for x in lints:
        style = "red" if x.severity == "error" else "yellow"
        console.print(Text(f"pair lint {x.severity}: {x.instance}: {x.message}", style=style))


def print_highstate(console: Console, results: dict[str, dict[str, Any] | None], notes: dict[str, str],
                    secrets: list[str]) -> None:
    for minion, result in results.items():
        console.print(Text(f"{minion}:", style="bold cyan"))
        if result is None:
            console.print(Text(f"    {notes.get(minion, 'no answer')}", style="red"))
            console.print()
            continue
        result = mask_data(result, secrets)
        if "error" in result:
            console.print(Text(f"    minion error: {result['error']}", style="red"))
        console.print("-" * 10)
        for state in result.get("states", []):
            _print_state(console, state)
        s = result.get("summary", {})
        style = "red" if s.get("failed") else "green"
        console.print("-" * 10)
        console.print(Text(f"Succeeded: {s.get('succeeded', 0)} (changed={s.get('changed', 0)})  "
                           f"Failed: {s.get('failed', 0)}  "
                           f"Total run time: {human_duration(s.get('duration_ms', 0) / 1000)}", style=style))
        if minion in notes:
            console.print(Text(f"    {notes[minion]}", style="yellow"))
        console.print()


def print_summary(console: Console, results: dict[str, dict[str, Any] | None], notes: dict[str, str],
                  secrets: list[str]) -> None:
    """For many minions: a line per minion that changed, failed or did not answer, then the totals."""
    quiet = 0
    for minion, result in results.items():
        if result is None:
            console.print(Text(f"{minion}: {notes.get(minion, 'no answer')}", style="red"))
            continue
        result = mask_data(result, secrets)
        failed = [st for st in result.get("states", []) if st["result"] is False]
        changed = [st["id"] for st in result.get("states", []) if st["changes"] and st["result"] is not False]
        if "error" in result or failed:
            why = result.get("error") or "; ".join(f"{st['id']}: {st['comment']}" for st in failed)
            why = " / ".join(line.strip() for line in why.splitlines() if line.strip())  # one line per minion
            console.print(Text(f"{minion}: FAILED {why}", style="red"))
        elif changed:
            console.print(Text(f"{minion}: changed {', '.join(changed)}", style="cyan"))
        else:
            quiet += 1
    total = summarize(results)
    style = "red" if total["failed"] or total["missing"] else "green"
    console.print(Text(f"{len(results)} minions ({quiet} unchanged): Succeeded: {total['succeeded']} "
                       f"(changed={total['changed']})  Failed: {total['failed']}  No answer: {total['missing']}",
                       style=style))


def _print_state(console: Console, state: dict[str, Any]) -> None:
    result, changes = state["result"], state["changes"]
    style = "cyan" if result is True and changes else RESULT_STYLE[result]
    if result is True and not changes:  # already right: one line is enough
        console.print(Text(f"  {state['fun']:<16}{state['name']}: {state['comment']}", style=style))
        return
    lines = [("ID", state["id"]), ("Function", state["fun"]), ("Name", state["name"]),
             ("Result", str(result)), ("Comment", state["comment"]),
             ("Duration", human_duration(state["duration_ms"] / 1000))]
    for label, value in lines:
        console.print(Text(f"{label:>12}: " + _indent(str(value), 14), style=style))
    if changes:
        console.print(Text(f"{'Changes':>12}:", style=style))
        console.print(Text(_format_changes(changes, 14), style=style))


def _format_changes(changes: dict[str, Any], indent: int) -> str:
    pad = " " * indent
    out = []
    for key, value in changes.items():
        if isinstance(value, dict) and set(value) == {"old", "new"}:
            out.append(f"{pad}{key}: {value['old']} -> {value['new']}")
        elif isinstance(value, str) and "\n" in value:
            out.append(f"{pad}{key}:")
            out.extend(f"{pad}    {line}" for line in value.splitlines())
        else:
            out.append(f"{pad}{key}: {value}")
    return "\n".join(out)


def _indent(text: str, width: int) -> str:
    return text.replace("\n", "\n" + " " * width)
