"""Reply model -> WhatsApp messages: limits, short button titles, lists, templates."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.commands.base import confirm_buttons
from bot.render.trading import approval_buttons
from bot.reply import Button, Reply
from bot.whatsapp import format as fmt

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_kill_choices_get_titles_within_twenty_characters() -> None:
    reply = Reply(
        "⚠️ Kill switch: confirm",
        buttons=confirm_buttons(
            "3fa9c1",
            ("🛑 Cancel orders and halt", "cancel"),
            ("🔻 Cancel, flatten and halt", "flatten"),
        ),
    )

    (message,) = fmt.plan(reply)

    assert isinstance(message, fmt.Buttons)
    assert [(c.id, c.title) for c in message.choices] == [
        ("confirm 3fa9c1 cancel", "🛑 Cancel & halt"),
        ("confirm 3fa9c1 flatten", "🔻 Flatten & halt"),
        ("confirm 3fa9c1 abort", "Abort"),
    ]
    assert all(fmt.measure(c.title) <= fmt.BUTTON_TITLE_LIMIT for c in message.choices)


def test_an_unknown_long_label_is_cut_at_a_word() -> None:
    button = Button("✅ Set max_exposure_usd to 2500", "confirm ab12 somethingnew")

    title = fmt.button_title(button)

    assert title == "✅ Set…"
    assert fmt.measure(fmt.button_title(Button("x" * 40, "status"))) <= 20


def test_approval_buttons_fit_as_they_are() -> None:
    reply = Reply("🗳 Approve this trade?", ("details",), buttons=approval_buttons("ap-1"))

    (message,) = fmt.plan(reply)

    assert isinstance(message, fmt.Buttons)
    assert [c.title for c in message.choices] == ["✅ Approve", "½ Approve half", "❌ Reject"]
    assert message.body == "*🗳 Approve this trade?*\ndetails"


def test_more_than_three_choices_make_lists_of_at_most_ten_rows() -> None:
    rows = tuple((Button(f"✅ {n}", f"decide ap-{n} approve"),) for n in range(12))

    messages = fmt.plan(Reply("12 trades waiting", buttons=rows))

    assert [type(m) for m in messages] == [fmt.ChoiceList, fmt.ChoiceList]
    assert [len(m.choices) for m in messages if isinstance(m, fmt.ChoiceList)] == [10, 2]
    assert messages[1].body == "More choices (2/2)"  # type: ignore[union-attr]
    first = fmt.interactive_payload("447700900001", messages[0])  # type: ignore[arg-type]
    row = first["interactive"]["action"]["sections"][0]["rows"][0]
    assert row == {
        "id": "decide ap-0 approve",
        "title": "✅ 0",
        "description": "Approve at the proposed size",
    }
    assert first["interactive"]["action"]["button"] == "Choose"


def test_duplicate_titles_are_made_unique() -> None:
    buttons = ((Button("Go", "status"), Button("Go", "pending")),)

    choices = fmt.choices(Reply("t", buttons=buttons))

    assert [c.title for c in choices] == ["Go", "Go 2"]


def test_a_body_too_long_for_buttons_goes_first_as_text() -> None:
    lines = tuple("z" * 100 for _ in range(15))
    reply = Reply("Kill?", lines, buttons=((Button("Abort", "confirm t abort"),),))

    messages = fmt.plan(reply)

    assert [type(m) for m in messages] == [fmt.Text, fmt.Buttons]
    assert messages[1].body == "*Kill?*"  # type: ignore[union-attr]


def test_a_short_text_with_one_image_is_its_caption() -> None:
    messages = fmt.plan(Reply("Equity", ("+1.2%",), images=(PNG,)))

    assert messages == [fmt.Picture(PNG, "*Equity*\n+1.2%")]


def test_images_with_buttons_come_before_the_choices() -> None:
    reply = Reply("Chart", images=(PNG,), buttons=((Button("🔄 Refresh", "chart equity"),),))

    messages = fmt.plan(reply)

    assert [type(m) for m in messages] == [fmt.Text, fmt.Picture, fmt.Buttons]


def test_titles_with_formatting_marks_are_not_bolded() -> None:
    assert fmt.styled_text(Reply("Set max_order_notional: 50 → 75")) == (
        "Set max_order_notional: 50 → 75"
    )
    assert fmt.styled_text(Reply("Paused", ("a", "b"))) == "*Paused*\na\nb"


def test_the_template_parameter_is_one_line_without_long_runs_of_spaces() -> None:
    reply = Reply("🚨 Halted", ("line\twith tab", "", "many      spaces", "x" * 2000))

    parameter = fmt.template_parameter(reply, "Reply to get it.")

    assert "\n" not in parameter
    assert "\t" not in parameter
    assert "     " not in parameter
    assert parameter.startswith("🚨 Halted · line with tab · many spaces · xxx")
    assert parameter.endswith("… · Reply to get it.")
    assert fmt.measure(parameter) <= fmt.TEMPLATE_PARAMETER_LIMIT


@given(st.text(min_size=0, max_size=9000))
def test_text_parts_stay_within_the_limit_and_lose_nothing(text: str) -> None:
    messages = fmt.plan(Reply("T", (text,)))

    bodies = [m.body for m in messages if isinstance(m, fmt.Text)]
    assert all(0 < fmt.measure(body) <= fmt.TEXT_LIMIT for body in bodies)
    joined = "\n".join(bodies)
    assert joined == "*T*\n" + text or (not text.strip() and joined.startswith("*T*"))


def test_payloads_quote_the_message_they_answer() -> None:
    payload = fmt.text_payload("447700900001", "hi", reply_to="wamid.1")

    assert payload == {
        "to": "447700900001",
        "type": "text",
        "text": {"body": "hi", "preview_url": False},
        "context": {"message_id": "wamid.1"},
    }
