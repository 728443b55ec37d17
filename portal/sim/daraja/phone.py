"""The fake phone (a page where a person answers M-Pesa prompts, and its API for programs) and the
simulator's test controls under `/__sim/`: none of it is Daraja's."""

import contextlib
import html

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect

from .protocol import json_object, simulator_of
from .simulator import OUTCOMES


@get("/phone/api/prompts")
async def phone_prompts(state: State) -> list[dict]:
    return [prompt.summary() for prompt in simulator_of(state).pending_prompts()]


@post("/phone/api/prompts/{checkout_request_id:str}")
async def phone_answer(state: State, request: Request, checkout_request_id: FromPath[str]) -> Response:
    sim = simulator_of(state)
    body = await json_object(request)
    outcome = body.get("outcome") if body else None
    if outcome not in OUTCOMES:
        return Response({"error": f"outcome must be one of {', '.join(OUTCOMES)}"}, status_code=400)
    sim.pending_prompts()
    try:
        prompt = sim.answer(checkout_request_id, outcome)
    except KeyError:
        return Response({"error": "no such prompt"}, status_code=404)
    except ValueError as error:
        return Response({"error": str(error)}, status_code=409)
    return Response({**prompt.summary(), "result_code": str(OUTCOMES[outcome][0])}, status_code=200)


@post("/phone/prompts/{checkout_request_id:str}")
async def phone_button(state: State, request: Request, checkout_request_id: FromPath[str]) -> Redirect:
    sim = simulator_of(state)
    outcome = (await request.form()).get("outcome")
    sim.pending_prompts()
    if outcome in BUTTONS:
        with contextlib.suppress(KeyError, ValueError):  # gone or answered: the page shows what is true
            sim.answer(checkout_request_id, outcome)
    return Redirect("/phone", status_code=303)


# The fake phone's buttons: outcome and label.
BUTTONS = {
    "success": "Enter PIN and pay",
    "cancel": "Cancel",
    "wrong_pin": "Wrong PIN",
    "no_funds": "Not enough money",
    "timeout": "Let it time out",
}


@get("/phone")
async def phone_page(state: State) -> Response:
    sim = simulator_of(state)
    cards = []
    for prompt in sim.pending_prompts():
        buttons = "".join(
            f'<button name="outcome" value="{value}">{label}</button>' for value, label in BUTTONS.items()
        )
        cards.append(
            f'<form method="post" action="/phone/prompts/{html.escape(prompt.checkout_request_id)}">'
            f"<p>Pay <b>KES {prompt.amount}</b> to <b>{html.escape(prompt.merchant)}</b>"
            f" (account {html.escape(prompt.account_reference)})?</p>"
            f"<p class=n>To {html.escape(prompt.phone)}</p>{buttons}</form>"
        )
    answered = sorted(
        (p for p in sim.prompts.values() if p.outcome), key=lambda p: p.answered_at, reverse=True
    )
    recent = "".join(
        f"<li>KES {p.amount} to {html.escape(p.merchant)} from {html.escape(p.phone)}: {p.outcome}"
        f"{' ' + p.receipt if p.receipt else ''}</li>"
        for p in answered[:5]
    )
    page = (
        "<!doctype html><html><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<meta http-equiv=refresh content=3><title>Fake phone - M-Pesa prompts</title><style>"
        "body{font:16px sans-serif;max-width:28em;margin:1em auto;padding:0 1em}"
        "form{border:1px solid #999;border-radius:8px;padding:.5em 1em;margin:1em 0}"
        "button{font-size:1em;margin:.2em;padding:.5em}.n{color:#555}</style></head><body>"
        "<h1>Fake phone</h1>"
        + ("".join(cards) or "<p>No M-Pesa prompt is waiting.</p>")
        + (f"<h2>Answered</h2><ul>{recent}</ul>" if recent else "")
        + "</body></html>"
    )
    return Response(page, media_type="text/html")


@get("/__sim/callbacks")
async def sim_callbacks(state: State) -> list[dict]:
    return [delivery.as_dict() for delivery in simulator_of(state).deliveries]


HANDLERS = [phone_prompts, phone_answer, phone_button, phone_page, sim_callbacks]
