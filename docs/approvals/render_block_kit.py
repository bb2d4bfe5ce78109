"""Block Kit JSON → an HTML page that looks like the message in Slack, for screenshots.

Renders only what Pivot's approval messages use — header, section (plain text), context, actions
with buttons — and escapes every string (params come from agents). Not a general renderer: an
unknown block is shown as its type, so a screenshot never hides that something was left out.
"""

from html import escape
from typing import Any

STYLE = """
body { font-family: -apple-system, "Segoe UI", Lato, Helvetica, Arial, sans-serif; background: #fff;
       margin: 0; padding: 20px; color: #1d1c1d; width: 720px; }
.msg { display: flex; gap: 10px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff; font-weight: 700;
          display: flex; align-items: center; justify-content: center; flex: none; }
.who { font-weight: 900; } .app { background: #e8e8e8; border-radius: 3px; font-size: 10px; padding: 1px 3px;
       color: #616061; margin-left: 4px; } .time { color: #616061; font-size: 12px; margin-left: 6px; }
.header { font-size: 18px; font-weight: 900; margin: 6px 0 4px; }
.section { white-space: pre-wrap; line-height: 1.45; font-size: 15px; margin: 4px 0; }
.context { color: #616061; font-size: 12px; margin: 4px 0; }
.actions { display: flex; gap: 8px; margin: 10px 0 4px; }
.button { border: 1px solid #bbb; border-radius: 4px; padding: 4px 14px; font-weight: 700; font-size: 14px; }
.primary { background: #007a5a; color: #fff; border-color: #007a5a; }
.danger { background: #fff; color: #e01e5a; border-color: #e01e5a; }
.unknown { color: #e01e5a; font-family: monospace; }
"""


def _text(node: Any) -> str:
    return escape(str(node.get("text", ""))) if isinstance(node, dict) else ""


def _block(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{_text(block.get("text"))}</div>'
    if kind == "section":
        return f'<div class="section">{_text(block.get("text"))}</div>'
    if kind == "context":
        return f'<div class="context">{" ".join(_text(e) for e in block.get("elements", []))}</div>'
    if kind == "actions":
        buttons = "".join(f'<span class="button {escape(str(e.get("style", "")))}">{_text(e.get("text"))}</span>'
                          for e in block.get("elements", []) if e.get("type") == "button")
        return f'<div class="actions">{buttons}</div>'
    return f'<div class="unknown">[{escape(str(kind))} block]</div>'


def message_html(message: dict[str, Any], app_name: str = "Pivot", time_text: str = "") -> str:
    """The message as Slack shows it in a channel: the app's name, then its blocks (or its text)."""
    blocks = message.get("blocks") or [{"type": "section", "text": {"type": "plain_text", "text": message.get("text")}}]
    body = "".join(_block(b) for b in blocks if isinstance(b, dict))
    edited = ' <span class="time">(edited)</span>' if message.get("edited") else ""
    return (f"<!doctype html><meta charset=utf-8><style>{STYLE}</style><div class=msg><div class=avatar>P</div><div>"
            f'<span class=who>{escape(app_name)}</span><span class=app>APP</span>'
            f"<span class=time>{escape(time_text)}</span>{edited}{body}</div></div>")
