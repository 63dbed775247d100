"""Writebacks to Tryton: notes, financing (delegation), payments (and their undoing) and journal
entries, each applied at most once per idempotency key.

Every primitive tags what it creates with ``[ll:<key>]`` where Tryton keeps it (the note's text or
the move's description). Before applying, the primitive searches Tryton for that tag and, if found,
returns the result built from the tagged record instead of applying again (``replayed: True``).
Each write happens in one Tryton transaction (one wizard step or one ``create``), so a lost
answer or a crash leaves either nothing or the tagged record, and a retry with the same key finds
it. The writes of more than one step are finished by the retry from what the tagged move shows: a
journal entry's create then post (a draft move carrying the key is posted instead of creating
another); undoing a payment (its reversal created, posted, then the payment's line unreconciled from
the invoice and reconciled with the reversal).

    TrytonWriteback(client).add_note(key, invoice_id, text)
    .mark_financed(key, invoice_id, funder_party_id)    account.move.line.delegate wizard
    .record_payment(key, invoice_id, amount, date, journal)  account.invoice.pay wizard
    .undo_payment(key, invoice_id, payment_key, date)       the payment reversed, the invoice open again
    .post_journal_entry(key, journal, date, lines, description)

Results are JSON-ready dicts (amounts as exact decimal strings, Tryton ids as ints).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.erp.base import ErpError
from connectors.erp.tryton import TrytonClient, plain
from ledgerlink.model.money import exact_sum

MAX_KEY_LENGTH = 128
_KEY_RE = re.compile(r"^[A-Za-z0-9._:@/+=-]+$")
_MOVE_FIELDS = ["number", "post_number", "state", "date", "journal", "journal.code", "period", "origin",
                "description", "lines"]
_LINE_FIELDS = ["account", "account.code", "account.name", "party", "debit", "credit",
                "amount_second_currency", "second_currency.code", "description", "reconciliation"]
_CONTEXT_SKIP = {"groups", "locale", "language_direction"}

JournalLine = tuple[Any, Any, Any, Any, Any]  # (account, debit, credit, party, description)


def tag(key: str) -> str:
    """The marker stored in Tryton for ``key``."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or not _KEY_RE.match(key):
        raise ErpError(f"tryton writeback: invalid idempotency key {key!r} (1-{MAX_KEY_LENGTH} characters "
                       "of letters, digits and ._:@/+=-)")
    return f"[ll:{key}]"


def to_amount(value: Any, what: str) -> Decimal:
    """An exact amount: Decimal, int or decimal text; floats are refused (they are not exact)."""
    if isinstance(value, bool | float):
        raise ErpError(f"{what}: amount {value!r} must be a Decimal, an int or decimal text, not a float")
    try:
        amount = Decimal(value) if isinstance(value, int | str) else value
    except InvalidOperation:
        amount = None
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ErpError(f"{what}: {value!r} is not an amount")
    return amount


class TrytonWriteback:
    """Writes to one Tryton database through a :class:`TrytonClient`."""

    def __init__(self, client: TrytonClient) -> None:
        self.client = client
        self._context: dict[str, Any] | None = None
        self._has_note: bool | None = None

    # -- plumbing ----------------------------------------------------------------------------
    def _ctx(self) -> dict[str, Any]:
        """The user's preferences (company, language) as the context of every write, as Tryton's
        own clients send it."""
        if self._context is None:
            prefs = self.client.call("model.res.user.get_preferences", True, {}) or {}
            self._context = {k: v for k, v in prefs.items() if k not in _CONTEXT_SKIP and "." not in k}
        return dict(self._context)

    @contextmanager
    def _errors(self, primitive: str, invoice_id: int | None = None) -> Iterator[None]:
        where = f"tryton writeback {primitive}" + (f" invoice {invoice_id}" if invoice_id is not None else "")
        try:
            yield
        except ErpError as exc:
            text = str(exc)
            if text.startswith(where):
                raise
            raise ErpError(f"{where}: {text}") from None

    def _search(self, model: str, domain: list[Any], fields: list[str], limit: int | None = None,
                order: list[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
        return self.client.search_read(model, domain, 0, limit, order or [("id", "ASC")], fields, self._ctx())

    def _create(self, model: str, values: list[dict[str, Any]]) -> list[int]:
        return [int(i) for i in self.client.call(f"model.{model}.create", values, self._ctx())]

    def _run_wizard(self, name: str, model: str, ids: list[int],
                    steps: Sequence[tuple[str, Any]]) -> list[dict[str, Any]]:
        """Run wizard ``name`` on records ``ids`` of ``model``. ``steps`` are (state, data) pairs,
        data being a dict or a callable of the previous step's answer returning one."""
        ctx = {**self._ctx(), "active_model": model, "active_id": ids[0], "active_ids": ids}
        session_id, _, _ = self.client.call(f"wizard.{name}.create", ctx)
        answers: list[dict[str, Any]] = []
        try:
            previous: dict[str, Any] = {}
            for state, data in steps:
                values = data(previous) if callable(data) else data
                previous = self.client.call(f"wizard.{name}.execute", session_id, values, state, ctx) or {}
                answers.append(previous)
                if not previous.get("view"):
                    break
        finally:
            with suppress(ErpError):  # the session expires on its own
                self.client.call(f"wizard.{name}.delete", session_id, ctx)
        return answers

    def _invoice(self, invoice_id: int, fields: list[str]) -> dict[str, Any]:
        if isinstance(invoice_id, bool) or not isinstance(invoice_id, int):
            raise ErpError(f"invoice id must be an int, got {invoice_id!r}")
        rows = self._search("account.invoice", [("id", "=", invoice_id)], fields, limit=1)
        if not rows:
            raise ErpError("no such invoice")
        return rows[0]

    def _tagged_moves(self, key: str) -> list[dict[str, Any]]:
        marker = tag(key)
        # LIKE wildcards in a key (_) only widen the search: the exact tag is checked here.
        rows = self._search("account.move", [("description", "like", f"%{marker}%")], ["description", "origin",
                                                                                      "state"])
        return [r for r in rows if marker in (r.get("description") or "")]

    def _one_tagged_move(self, key: str, origin: str | None) -> dict[str, Any] | None:
        rows = self._tagged_moves(key)
        if not rows:
            return None
        if len(rows) > 1:
            raise ErpError(f"key {key!r} is on {len(rows)} moves ({', '.join(str(r['id']) for r in rows)})")
        row = rows[0]
        if origin is not None and row.get("origin") != origin:
            raise ErpError(f"key {key!r} was already used for move {row['id']} (origin {row.get('origin')}), "
                           f"not for {origin}")
        return row

    def _move_result(self, move_id: int) -> dict[str, Any]:
        rows = self._search("account.move", [("id", "=", move_id)], _MOVE_FIELDS, limit=1)
        if not rows:
            raise ErpError(f"move {move_id} not found")
        move = rows[0]
        lines = self.client.read("account.move.line", list(move.get("lines") or []), _LINE_FIELDS, self._ctx())
        lines.sort(key=lambda ln: ln["id"])
        debit = exact_sum(ln.get("debit") or Decimal(0) for ln in lines)
        credit = exact_sum(ln.get("credit") or Decimal(0) for ln in lines)
        return plain({
            "move_id": move["id"], "move_number": move.get("number"), "post_number": move.get("post_number"),
            "state": move.get("state"), "date": move.get("date"), "journal_id": move.get("journal"),
            "journal": (move.get("journal.") or {}).get("code"), "origin": move.get("origin"),
            "description": move.get("description"), "total_debit": debit, "total_credit": credit,
            "lines": [{"id": ln["id"], "account_id": ln.get("account"),
                       "account": (ln.get("account.") or {}).get("code") or (ln.get("account.") or {}).get("name"),
                       "party_id": ln.get("party"), "debit": ln.get("debit"), "credit": ln.get("credit"),
                       "amount_second_currency": ln.get("amount_second_currency"),
                       "second_currency": (ln.get("second_currency.") or {}).get("code"),
                       "description": ln.get("description")} for ln in lines],
        })

    def _journal(self, journal: Any) -> int:
        """A journal by id, code or name."""
        if isinstance(journal, int) and not isinstance(journal, bool):
            domain: list[Any] = [("id", "=", journal)]
        elif isinstance(journal, str) and journal:
            domain = ["OR", ("code", "=", journal), ("name", "=", journal)]
        else:
            raise ErpError(f"journal must be an id, a code or a name, got {journal!r}")
        rows = self._search("account.journal", domain, ["code"])
        if len(rows) != 1:
            raise ErpError(f"journal {journal!r}: {'not found' if not rows else f'{len(rows)} journals match'}")
        return int(rows[0]["id"])

    # -- 1. a note on an invoice -------------------------------------------------------------
    def add_note(self, key: str, invoice_id: int, text: str) -> dict[str, Any]:
        """An ``ir.note`` on the invoice carrying ``text`` and the key's tag; where ``ir.note`` is
        not available, the text is appended to the invoice's ``comment``."""
        marker = tag(key)
        with self._errors("add_note", invoice_id):
            if not isinstance(text, str) or not text.strip():
                raise ErpError("the note text is empty")
            resource = f"account.invoice,{invoice_id}"
            invoice = self._invoice(invoice_id, ["comment"])
            if self._notes_available():
                found = self._find_note(resource, marker)
                if found is None:
                    self._create("ir.note", [{"resource": resource, "message": f"{text}\n{marker}"}])
                    found = self._find_note(resource, marker)
                    if found is None:
                        raise ErpError("the note was created but cannot be read back")
                    return self._note_result(key, invoice_id, found, replayed=False)
                return self._note_result(key, invoice_id, found, replayed=True)
            comment = invoice.get("comment") or ""
            if marker in comment:
                return {"primitive": "add_note", "key": key, "invoice_id": invoice_id, "model": "account.invoice",
                        "field": "comment", "replayed": True}
            new = f"{comment}\n{text} {marker}" if comment else f"{text} {marker}"
            self.client.write("account.invoice", [invoice_id], {"comment": new}, self._ctx())
            return {"primitive": "add_note", "key": key, "invoice_id": invoice_id, "model": "account.invoice",
                    "field": "comment", "replayed": False}

    def _notes_available(self) -> bool:
        if self._has_note is None:
            self._has_note = bool(self._search("ir.model", [("model", "=", "ir.note")], ["model"], limit=1))
        return self._has_note

    def _find_note(self, resource: str, marker: str) -> dict[str, Any] | None:
        rows = self._search("ir.note", [("resource", "=", resource), ("message", "like", f"%{marker}%")],
                            ["message", "resource"])
        rows = [r for r in rows if marker in (r.get("message") or "")]
        return rows[0] if rows else None

    @staticmethod
    def _note_result(key: str, invoice_id: int, note: dict[str, Any], *, replayed: bool) -> dict[str, Any]:
        return {"primitive": "add_note", "key": key, "invoice_id": invoice_id, "model": "ir.note",
                "note_id": note["id"], "resource": note.get("resource"), "replayed": replayed}

    # -- 2. financing: delegate the payable to the funder -------------------------------------
    def mark_financed(self, key: str, invoice_id: int, funder_party_id: int, *, journal: Any = None,
                      description: str | None = None) -> dict[str, Any]:
        """Delegate the open lines to pay of a posted supplier invoice to ``funder_party_id`` with
        Tryton's ``account.move.line.delegate`` wizard: a posted move (origin: the invoice) that
        reconciles the vendor's payable lines with counterparts and opens the same amounts on the
        same payable account for the funder; the funder becomes an alternative payee of the invoice.
        ``journal`` defaults to the invoice's journal; the move is dated today (as Tryton does)."""
        marker = tag(key)
        origin = f"account.invoice,{invoice_id}"
        with self._errors("mark_financed", invoice_id):
            invoice = self._invoice(invoice_id, ["type", "state", "party", "journal", "lines_to_pay", "number"])
            found = self._one_tagged_move(key, origin)
            if found is not None:
                return self._financed_result(key, invoice_id, funder_party_id, found["id"], replayed=True)
            if invoice.get("type") != "in":
                raise ErpError("not a supplier invoice")
            if invoice.get("state") != "posted":
                raise ErpError(f"the invoice is {invoice.get('state')}, not posted")
            if isinstance(funder_party_id, bool) or not isinstance(funder_party_id, int):
                raise ErpError(f"funder party id must be an int, got {funder_party_id!r}")
            if funder_party_id == invoice.get("party"):
                raise ErpError("the funder is the invoice's own party")
            if not self._search("party.party", [("id", "=", funder_party_id)], ["name"], limit=1):
                raise ErpError(f"no such funder party {funder_party_id}")
            lines = self.client.read("account.move.line", list(invoice.get("lines_to_pay") or []),
                                     ["reconciliation", "party"], self._ctx())
            # lines already delegated to a funder count among the lines to pay too: only the
            # vendor's open lines are delegated
            open_lines = sorted(ln["id"] for ln in lines
                                if ln.get("reconciliation") is None and ln.get("party") == invoice.get("party"))
            if not open_lines:
                raise ErpError("no open lines to pay owed to the vendor (paid, or already delegated)")
            journal_id = self._journal(journal) if journal is not None else int(invoice["journal"])
            text = f"{description or 'Financed'} {marker}"
            self._run_wizard("account.move.line.delegate", "account.move.line", open_lines, [
                ("delegate", {"start": {"journal": journal_id, "party": funder_party_id, "description": text}}),
            ])
            found = self._one_tagged_move(key, origin)
            if found is None:
                raise ErpError("the delegation move was not found after the wizard ran")
            return self._financed_result(key, invoice_id, funder_party_id, found["id"], replayed=False)

    def _financed_result(self, key: str, invoice_id: int, funder_party_id: int, move_id: int, *,
                         replayed: bool) -> dict[str, Any]:
        move = self._move_result(move_id)
        delegated = [ln["id"] for ln in move["lines"] if ln["party_id"] == funder_party_id]
        return {"primitive": "mark_financed", "key": key, "invoice_id": invoice_id,
                "funder_party_id": funder_party_id, "delegated_line_ids": delegated, "move": move,
                "replayed": replayed}

    # -- 3. a payment against an invoice -------------------------------------------------------
    def record_payment(self, key: str, invoice_id: int, amount: Any, date: dt.date, journal: Any) -> dict[str, Any]:
        """A payment of ``amount`` (invoice currency) on ``date`` through Tryton's ``account.invoice.pay``
        wizard: a posted move (origin: the invoice) on the payment method whose journal is ``journal``
        (id, code or name; or the payment method's name), added to the invoice's payment lines and
        reconciled when it pays the invoice in full. A partial payment stays partial."""
        marker = tag(key)
        origin = f"account.invoice,{invoice_id}"
        with self._errors("record_payment", invoice_id):
            value = to_amount(amount, "amount")
            if value <= 0:
                raise ErpError(f"amount {value} must be positive")
            if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
                raise ErpError(f"date must be a date, got {date!r}")
            invoice = self._invoice(invoice_id, ["type", "state", "amount_to_pay", "currency.code"])
            found = self._one_tagged_move(key, origin)
            if found is not None:
                return self._payment_result(key, invoice_id, found["id"], replayed=True)
            if invoice.get("state") != "posted":
                raise ErpError(f"the invoice is {invoice.get('state')}, not posted")
            to_pay = invoice.get("amount_to_pay") or Decimal(0)
            if value > to_pay:
                raise ErpError(f"amount {value} is more than the amount to pay {to_pay}")
            method = self._payment_method(journal)

            start: dict[str, Any] = {}

            def start_values(answer: dict[str, Any]) -> dict[str, Any]:
                start.update(_defaults(answer))
                start.update(amount=value, date=date, payment_method=method, description=marker)
                return {"start": start}

            def ask_values(answer: dict[str, Any]) -> dict[str, Any]:
                # a partial payment: Tryton asks what to do with the rest, which stays to pay
                return {"start": start, "ask": {**_defaults(answer), "type": "partial"}}

            self._run_wizard("account.invoice.pay", "account.invoice", [invoice_id], [
                ("start", {}), ("choice", start_values), ("pay", ask_values)])
            found = self._one_tagged_move(key, origin)
            if found is None:
                raise ErpError("the payment move was not found after the wizard ran")
            return self._payment_result(key, invoice_id, found["id"], replayed=False)

    def _payment_method(self, journal: Any) -> int:
        methods = self._search("account.invoice.payment.method", [], ["name", "journal", "journal.code",
                                                                      "journal.name"])
        for method in methods:
            j = method.get("journal.") or {}
            if journal in (method.get("journal"), j.get("code"), j.get("name"), method.get("name")):
                return int(method["id"])
        raise ErpError(f"no invoice payment method for journal {journal!r} "
                       f"(known: {', '.join(str((m.get('journal.') or {}).get('code')) for m in methods) or 'none'})")

    def _payment_result(self, key: str, invoice_id: int, move_id: int, *, replayed: bool) -> dict[str, Any]:
        move = self._move_result(move_id)
        return {"primitive": "record_payment", "key": key, "invoice_id": invoice_id, "move": move,
                "replayed": replayed}

    # -- 4. undo a payment ---------------------------------------------------------------------
    def undo_payment(self, key: str, invoice_id: int, payment_key: str, date: dt.date,
                     description: str | None = None) -> dict[str, Any]:
        """Undo the payment :meth:`record_payment` booked under ``payment_key`` (the bank returned it):
        a posted move on ``date`` in the payment's journal (origin: the payment's move) with the payment
        move's lines reversed; the payment's line on the payable account is taken out of its
        reconciliation with the invoice and off the invoice's payments, and reconciled with its reversal
        instead. The invoice is open again (posted, the payment's amount to pay again). Steps an
        interrupted attempt left undone are finished by the retry; nothing is reversed twice."""
        marker = tag(key)
        tag(payment_key)
        with self._errors("undo_payment", invoice_id):
            if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
                raise ErpError(f"date must be a date, got {date!r}")
            invoice = self._invoice(invoice_id, ["account", "payment_lines"])
            payment = self._one_tagged_move(payment_key, f"account.invoice,{invoice_id}")
            if payment is None:
                raise ErpError(f"no payment recorded with key {payment_key!r}")
            origin = f"account.move,{payment['id']}"
            paid = self._lines_of(payment["id"])
            paid_line = self._payable_line(paid, invoice, payment["id"])
            found = self._one_tagged_move(key, origin)
            replayed = found is not None
            if found is None:
                if payment.get("state") != "posted":
                    raise ErpError(f"the payment's move {payment['id']} is {payment.get('state')}, not posted")
                self._check_not_undone(paid_line, origin)
                values = [{"account": ln["account"], "party": ln.get("party"), "debit": ln["credit"],
                           "credit": ln["debit"], "second_currency": ln.get("second_currency"),
                           "amount_second_currency": None if ln.get("amount_second_currency") is None
                           else -ln["amount_second_currency"], "description": ln.get("description")}
                          for ln in paid]
                move_id, = self._create("account.move", [{
                    "journal": self._move_journal(payment["id"]), "date": date, "period": self._period(date),
                    "origin": origin, "description": f"{description or 'Payment returned'} {marker}",
                    "lines": [("create", values)]}])
                found = {"id": move_id, "state": "draft"}
            if found.get("state") == "draft":
                self.client.call("model.account.move.post", [found["id"]], self._ctx())
            reversal_line = self._payable_line(self._lines_of(found["id"]), invoice, found["id"])
            if paid_line.get("reconciliation") is not None \
                    and paid_line["reconciliation"] != reversal_line.get("reconciliation"):
                self._run_wizard("account.move.unreconcile_lines", "account.move.line", [paid_line["id"]],
                                 [("unreconcile", {})])
            if paid_line["id"] in (invoice.get("payment_lines") or []):
                self.client.write("account.invoice", [invoice_id],
                                  {"payment_lines": [("remove", [paid_line["id"]])]}, self._ctx())
            if reversal_line.get("reconciliation") is None:
                self._run_wizard("account.move.reconcile_lines", "account.move.line",
                                 [paid_line["id"], reversal_line["id"]], [("start", {})])
            after = self._invoice(invoice_id, ["state", "amount_to_pay"])
            return {"primitive": "undo_payment", "key": key, "invoice_id": invoice_id, "payment_key": payment_key,
                    "payment_move_id": payment["id"], "move": self._move_result(found["id"]),
                    "invoice_state": after.get("state"), "amount_to_pay": plain(after.get("amount_to_pay")),
                    "replayed": replayed}

    def _lines_of(self, move_id: int) -> list[dict[str, Any]]:
        return self._search("account.move.line", [("move", "=", move_id)],
                            ["account", "party", "debit", "credit", "amount_second_currency", "second_currency",
                             "description", "reconciliation"])

    def _move_journal(self, move_id: int) -> int:
        (move,) = self._search("account.move", [("id", "=", move_id)], ["journal"], limit=1)
        return int(move["journal"])

    @staticmethod
    def _payable_line(lines: list[dict[str, Any]], invoice: dict[str, Any], move_id: int) -> dict[str, Any]:
        found = [ln for ln in lines if ln["account"] == invoice["account"]]
        if len(found) != 1:
            raise ErpError(f"move {move_id} has {len(found)} lines on the invoice's payable account, not one")
        return found[0]

    def _check_not_undone(self, paid_line: dict[str, Any], origin: str) -> None:
        """Refuse to reverse a payment someone already undid in Tryton: its line reconciled with a move
        whose origin is the payment's move (Tryton's own cancellation, say)."""
        if paid_line.get("reconciliation") is None:
            return
        others = self._search("account.move.line", [("reconciliation", "=", paid_line["reconciliation"])],
                              ["move", "move.origin"])
        undone = [ln["move"] for ln in others if (ln.get("move.") or {}).get("origin") == origin]
        if undone:
            raise ErpError(f"the payment is already undone in Tryton (move {undone[0]})")

    # -- 5. a journal entry --------------------------------------------------------------------
    def post_journal_entry(self, key: str, journal: Any, date: dt.date, lines: Sequence[JournalLine],
                           description: str = "") -> dict[str, Any]:
        """A balanced move in ``journal`` on ``date``, created and posted. ``lines`` are
        ``(account, debit, credit, party, description)``: account by code, name or id; party by id,
        name or None. Unbalanced, empty or negative lines are refused before Tryton is called."""
        marker = tag(key)
        with self._errors("post_journal_entry"):
            checked = check_balanced(lines)
            if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
                raise ErpError(f"date must be a date, got {date!r}")
            found = self._one_tagged_move(key, None)
            if found is not None:
                if found.get("origin"):
                    raise ErpError(f"key {key!r} was already used for move {found['id']} "
                                   f"(origin {found['origin']}), not for a journal entry")
                if found.get("state") == "draft":
                    # created by an earlier attempt that did not get to post it
                    self.client.call("model.account.move.post", [found["id"]], self._ctx())
                return self._entry_result(key, found["id"], replayed=True)
            journal_id = self._journal(journal)
            period = self._period(date)
            values = [{"account": self._account(acc), "debit": debit, "credit": credit,
                       "party": self._party(party), "description": text or None}
                      for acc, debit, credit, party, text in checked]
            move_text = f"{description} {marker}" if description else marker
            move_id, = self._create("account.move", [{
                "journal": journal_id, "date": date, "period": period, "description": move_text,
                "lines": [("create", values)]}])
            self.client.call("model.account.move.post", [move_id], self._ctx())
            return self._entry_result(key, move_id, replayed=False)

    def _entry_result(self, key: str, move_id: int, *, replayed: bool) -> dict[str, Any]:
        return {"primitive": "post_journal_entry", "key": key, "move": self._move_result(move_id),
                "replayed": replayed}

    def _period(self, date: dt.date) -> int:
        rows = self._search("account.period", [("start_date", "<=", date), ("end_date", ">=", date),
                                               ("type", "=", "standard")], ["state"])
        if not rows:
            raise ErpError(f"no accounting period for {date.isoformat()}")
        if rows[0].get("state") != "open":
            raise ErpError(f"the period for {date.isoformat()} is {rows[0].get('state')}")
        return int(rows[0]["id"])

    def _account(self, account: Any) -> int:
        if isinstance(account, int) and not isinstance(account, bool):
            domain: list[Any] = [("id", "=", account)]
        elif isinstance(account, str) and account:
            rows = self._search("account.account", [("code", "=", account), ("type", "!=", None)], ["code"])
            if not rows:
                rows = self._search("account.account", [("name", "=", account), ("type", "!=", None)], ["code"])
            if len(rows) != 1:
                raise ErpError(f"account {account!r}: {'not found' if not rows else f'{len(rows)} accounts match'}")
            return int(rows[0]["id"])
        else:
            raise ErpError(f"account must be a code, a name or an id, got {account!r}")
        rows = self._search("account.account", domain, ["code"])
        if not rows:
            raise ErpError(f"account {account!r} not found")
        return int(rows[0]["id"])

    def _party(self, party: Any) -> int | None:
        if party is None:
            return None
        if isinstance(party, int) and not isinstance(party, bool):
            domain: list[Any] = [("id", "=", party)]
        elif isinstance(party, str) and party:
            domain = ["OR", ("code", "=", party), ("name", "=", party)]
        else:
            raise ErpError(f"party must be an id, a code, a name or None, got {party!r}")
        rows = self._search("party.party", domain, ["name"])
        if len(rows) != 1:
            raise ErpError(f"party {party!r}: {'not found' if not rows else f'{len(rows)} parties match'}")
        return int(rows[0]["id"])


def _defaults(answer: dict[str, Any]) -> dict[str, Any]:
    """A wizard view's default values, without the ``field.`` rec_name entries."""
    defaults = (answer.get("view") or {}).get("defaults") or {}
    return {k: v for k, v in defaults.items() if "." not in k}


def check_balanced(lines: Sequence[JournalLine]) -> list[tuple[Any, Decimal, Decimal, Any, Any]]:
    """The lines with exact amounts, or ErpError when they are not a balanced entry."""
    if not isinstance(lines, Sequence) or isinstance(lines, str) or len(lines) < 2:
        raise ErpError("a journal entry needs at least two lines")
    checked = []
    for n, line in enumerate(lines, 1):
        if not isinstance(line, Sequence) or isinstance(line, str) or len(line) != 5:
            raise ErpError(f"line {n}: expected (account, debit, credit, party, description), got {line!r}")
        account, debit, credit, party, text = line
        debit, credit = to_amount(debit or 0, f"line {n} debit"), to_amount(credit or 0, f"line {n} credit")
        if debit < 0 or credit < 0:
            raise ErpError(f"line {n}: debit and credit must not be negative")
        if (debit == 0) == (credit == 0):
            raise ErpError(f"line {n}: exactly one of debit and credit must be non-zero")
        checked.append((account, debit, credit, party, text))
    total_debit = exact_sum(c[1] for c in checked)
    total_credit = exact_sum(c[2] for c in checked)
    if total_debit != total_credit:
        raise ErpError(f"unbalanced: debit {total_debit} != credit {total_credit}")
    return checked
