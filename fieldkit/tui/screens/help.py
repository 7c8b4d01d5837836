"""F1: what the current screen is for, and every key it has."""

from __future__ import annotations

import re
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

__all__ = ["HelpScreen", "help_markup"]


def help_markup(text: str) -> str:
    """A screen's HELP (``**bold**`` and ```code``` only) as Textual markup."""
    escaped = escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"[b]\1[/b]", escaped)
    escaped = re.sub(r"\*(.+?)\*", r"[i]\1[/i]", escaped)
    return re.sub(r"`(.+?)`", r"[b]\1[/b]", escaped)


class HelpScreen(ModalScreen[None]):
    """The help of one screen: its purpose in words, then its keys.

    Plain Statics, not a Markdown widget: help opens in a frame even mid-read.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "dismiss", "Close help", id="help-close"),
    ]

    def __init__(self, title: str, text: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self._title = title
        self._text = text
        self._keys = keys

    def compose(self) -> ComposeResult:
        width = max((len(k) for k, _ in self._keys), default=4) + 2
        keys = "\n".join(f"{escape(k):<{width}}{escape(what)}" for k, what in self._keys)
        with VerticalScroll(id="help-box"):
            yield Static(escape(self._title), classes="dialog-title")
            yield Static(help_markup(self._text), id="help-text")
            yield Static("\nKeys", classes="section-title")
            yield Static(keys, id="help-keys")
            yield Static("\nEsc or F1 closes this help.", classes="hint")
        yield Footer()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
