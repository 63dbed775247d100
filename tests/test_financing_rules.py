"""Financing eligibility: the rules file, each rule, explanations, decisions stored with the outbox."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from ledgerlink.cli import main
from ledgerlink.errors import ConfigError, StoreError
from ledgerlink.financing import ELIGIBLE_RULE, RULE_ORDER, Context, evaluate, load_rules, parse_rules
from ledgerlink.financing import decide as decide_mod
from ledgerlink.financing.decide import (
    SUBMIT_KIND,
    decide_and_enqueue,
    explain,
    idempotency_key,
    stored_decisions,
)
from ledgerlink.financing.rules import DEFAULT_RULES, RULES_ENV
from ledgerlink.model.entities import validator
from ledgerlink.store import StagedRecord
from ledgerlink.store.outbox import Outbox

TODAY = dt.date(2026, 3, 2)

RULES_YAML = """
version: 1
revision: "2026-03-01"
platform: scf-test
pilot_vendors: [C1001, C1002, C1003]
currencies:
  EUR: {min: "1000.00", max: "50000.00"}
  USD: {min: "2000", max: "9000"}
days_to_due: {min: 10, max: 90}
payment_terms: [30 dagen netto, NET60]
"""


@pytest.fixture
def rules():
    return parse_rules(RULES_YAML, "test-rules.yaml")


def invoice(**changes) -> dict:
    base = {
        "invoice_number": "F-1", "direction": "payable", "vendor_id": "C1001", "vendor_name": "Bakkerij De Zon",
        "issue_date": "2026-02-20", "due_date": "2026-04-01", "currency": "EUR",
        "amount_excl_tax": "1000.00", "tax_amount": "210.00", "amount_incl_tax": "1210.00",
        "payment_terms": "30 dagen netto", "status": "approved",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def vendor(**changes) -> dict:
    base = {"vendor_id": "C1001", "name": "Bakkerij De Zon", "approval_status": "approved",
            "payment_terms": "NET60"}
    base.update(changes)
    return base


# -- the rules file --------------------------------------------------------------------------


def test_shipped_rules_are_valid_and_the_environment_can_replace_them(tmp_path, monkeypatch):
    shipped = load_rules()
    assert shipped.path == str(DEFAULT_RULES)
    assert shipped.currencies["EUR"][0] == Decimal("500.00")
    own = tmp_path / "rules.yaml"
    own.write_text(RULES_YAML)
    monkeypatch.setenv(RULES_ENV, str(own))
    loaded = load_rules()
    assert (loaded.revision, loaded.platform, loaded.path) == ("2026-03-01", "scf-test", str(own))
    assert loaded.currencies == {"EUR": (Decimal("1000.00"), Decimal("50000.00")),
                                 "USD": (Decimal("2000"), Decimal("9000"))}
    assert len(loaded.sha256) == 64 and loaded.sha256 != shipped.sha256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (RULES_YAML.replace('min: "1000.00"', "min: 1000.00"), r"currencies/EUR/min: 1000.0 is not of type 'string'"),
        (RULES_YAML + "surprise: 1\n", "Additional properties are not allowed"),
        (RULES_YAML.replace("EUR:", "euro:"), "currencies: 'euro' does not match"),
        (RULES_YAML.replace('max: "50000.00"', 'max: "10.00"'), "currencies/EUR: min 1000.00 is above max 10.00"),
        (RULES_YAML.replace("min: 10, max: 90", "min: 91, max: 90"), "days_to_due: min 91 is above max 90"),
        ("version: [", "not valid YAML"),
    ],
)
def test_invalid_rules_files_are_refused_with_the_file_and_field(text, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_rules(text, "bad-rules.yaml")
    assert "bad-rules.yaml" in str(info.value)


def test_missing_rules_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.yaml: cannot read financing rules"):
        load_rules(tmp_path / "nowhere.yaml")


# -- each rule --------------------------------------------------------------------------------


def test_an_eligible_invoice_passes_every_rule_in_order(rules):
    decision = evaluate(invoice(), vendor(), Context(TODAY, rules))
    assert decision.eligible
    assert (decision.rule, decision.reason) == (ELIGIBLE_RULE, "all 8 rules passed")
    assert [c.rule for c in decision.checks] == list(RULE_ORDER)
    assert all(c.passed for c in decision.checks)
    details = {c.rule: c.detail for c in decision.checks}
    assert details["amount_range"] == "1210.00 EUR is within 1000.00..50000.00"
    assert details["days_to_due"] == "due 2026-04-01, 30 days from 2026-03-02 (allowed 10..90)"


FAILURES = [
    ("invoice_status", {"status": "disputed"}, {}, None, "status is disputed; only approved invoices are financed"),
    ("invoice_status", {"status": "blocked"}, {}, None, "status is blocked"),
    ("invoice_status", {"status": "paid"}, {}, None, "status is paid"),
    ("invoice_status", {"status": "cancelled"}, {}, None, "status is cancelled"),
    ("invoice_status", {"status": "open"}, {}, None, "status is open"),
    ("invoice_status", {"direction": "receivable"}, {}, None, "a receivable invoice is not financed"),
    ("vendor_approved", {}, {"approval_status": "blocked"}, None, "vendor C1001 is blocked"),
    ("vendor_approved", {}, {"approval_status": "pending"}, None, "vendor C1001 is pending"),
    ("vendor_approved", {}, None, None, "vendor C1001 is not in the vendor master"),
    ("vendor_in_pilot", {"vendor_id": "C9999"}, {"vendor_id": "C9999"}, None,
     "vendor C9999 is not in the pilot allowlist (3 vendors)"),
    ("currency_allowed", {"currency": "GBP"}, {}, None, "GBP is not allowed (allowed: EUR, USD)"),
    ("amount_range", {"amount_incl_tax": "999.99"}, {}, None,
     "999.99 EUR is below the minimum (1000.00..50000.00)"),
    ("amount_range", {"amount_incl_tax": "50000.01"}, {}, None, "above the maximum"),
    ("amount_range", {"amount_incl_tax": "-1210.00"}, {}, None, "below the minimum"),
    ("amount_range", {"currency": "USD", "amount_incl_tax": "1999.99"}, {}, None, "1999.99 USD is below"),
    ("amount_range", {"amount_incl_tax": "12,10"}, {}, None, "is not an exact decimal amount"),
    ("days_to_due", {"due_date": "2026-03-11"}, {}, None, "due 2026-03-11, 9 days from 2026-03-02 (allowed 10..90)"),
    ("days_to_due", {"due_date": "2026-06-01"}, {}, None, "91 days"),
    ("days_to_due", {"due_date": "2026-02-28"}, {}, None, "-2 days"),
    ("days_to_due", {"due_date": None}, {}, None, "the invoice has no valid due date"),
    ("payment_terms", {"payment_terms": "14 dagen"}, {}, None, "'14 dagen' (invoice) is not an allowed payment term"),
    ("payment_terms", {"payment_terms": None}, {"payment_terms": "NET90"}, None, "'NET90' (vendor) is not an allowed"),
    ("payment_terms", {"payment_terms": None}, {"payment_terms": None}, None, "no payment terms"),
    ("not_already_submitted", {}, {}, "outbox entry 7 (sent)", "already submitted: outbox entry 7 (sent)"),
]


@pytest.mark.parametrize(("rule", "inv", "ven", "submitted", "detail"), FAILURES,
                         ids=[f"{f[0]}-{i}" for i, f in enumerate(FAILURES)])
def test_each_rule_fails_alone_and_decides(rules, rule, inv, ven, submitted, detail):
    vendor_payload = None if ven is None else vendor(**ven)
    decision = evaluate(invoice(**inv), vendor_payload, Context(TODAY, rules, submitted=submitted))
    assert not decision.eligible
    assert decision.rule == rule
    assert detail in decision.reason
    failed = [c.rule for c in decision.checks if not c.passed]
    # A currency without a range cannot have its amount checked either.
    assert failed == ([rule, "amount_range"] if rule == "currency_allowed" else [rule])
    # Every rule is still checked and reported.
    assert [c.rule for c in decision.checks] == list(RULE_ORDER)


def test_boundaries_are_included_and_terms_compare_loosely(rules):
    for due in ("2026-03-12", "2026-05-31"):  # 10 and 90 days
        assert evaluate(invoice(due_date=due), vendor(), Context(TODAY, rules)).eligible
    assert evaluate(invoice(due_date="2026-06-01"), vendor(), Context(TODAY, rules)).rule == "days_to_due"
    assert evaluate(invoice(amount_incl_tax="1000.00"), vendor(), Context(TODAY, rules)).eligible
    assert evaluate(invoice(amount_incl_tax="50000"), vendor(), Context(TODAY, rules)).eligible
    assert evaluate(invoice(payment_terms="  30  DAGEN netto "), vendor(), Context(TODAY, rules)).eligible
    assert evaluate(invoice(payment_terms=None), vendor(), Context(TODAY, rules)).eligible  # vendor's NET60


def test_the_first_failing_rule_decides_and_all_failures_are_reported(rules):
    decision = evaluate(
        invoice(vendor_id="C9999", currency="GBP", due_date="2027-01-01"),
        vendor(vendor_id="C9999", approval_status="blocked"),
        Context(TODAY, rules),
    )
    assert decision.rule == "vendor_approved"
    failed = [c.rule for c in decision.checks if not c.passed]
    assert failed == ["vendor_approved", "vendor_in_pilot", "currency_allowed", "amount_range", "days_to_due"]


def test_amounts_are_exact_decimals_and_floats_are_refused(rules):
    assert evaluate(invoice(amount_incl_tax="999.999"), vendor(), Context(TODAY, rules)).rule == "amount_range"
    assert evaluate(invoice(amount_incl_tax=1210.0), vendor(), Context(TODAY, rules)).rule == "amount_range"


# -- decisions in the store ---------------------------------------------------------------------


def invoice_key(payload: dict) -> str:
    return json.dumps({"vendor_id": payload.get("vendor_id"), "invoice_number": payload["invoice_number"]},
                      separators=(",", ":"))


def load(store, entity: str, payloads: list[dict]) -> None:
    run = store.start_run(f"test-{entity}", entity)
    key = invoice_key if entity == "invoice" else (lambda p: json.dumps({"vendor_id": p["vendor_id"]}))
    store.load(run, f"test-{entity}", entity, [StagedRecord.build(key(p), p) for p in payloads])
    store.finish_run(run, "succeeded")


@pytest.fixture
def loaded(store):
    load(store, "vendor", [vendor(), vendor(vendor_id="C1002", approval_status="blocked"), vendor(vendor_id="C1003")])
    load(store, "invoice", [
        invoice(),
        invoice(invoice_number="F-2", vendor_id="C1002"),
        invoice(invoice_number="F-3", amount_incl_tax="99999.00"),
        invoice(invoice_number="F-4", vendor_id="C1003", status="disputed"),
        invoice(invoice_number="R-1", direction="receivable", vendor_id=None, customer_id="K1"),
    ])
    return store


def test_decisions_are_stored_with_their_rule_and_eligible_ones_enqueued(loaded, rules):
    store = loaded
    result = decide_and_enqueue(store, None, TODAY, "run-1", rules=rules)
    assert (result.decided, result.eligible, result.enqueued) == (4, 1, 1)  # the receivable is not decided
    assert dict(result.by_rule) == {ELIGIBLE_RULE: 1, "vendor_approved": 1, "amount_range": 1, "invoice_status": 1}

    key = invoice_key(invoice())
    [decision] = stored_decisions(store, key)
    assert (decision["decision"], decision["rule"], decision["run_id"]) == ("eligible", ELIGIBLE_RULE, "run-1")
    assert (decision["rules_version"], decision["rules_hash"]) == ("2026-03-01", rules.sha256)
    assert [c["rule"] for c in decision["details"]] == list(RULE_ORDER)
    [f3] = stored_decisions(store, invoice_key(invoice(invoice_number="F-3")))
    assert (f3["decision"], f3["rule"], f3["outbox_id"]) == ("ineligible", "amount_range", None)
    assert f3["reason"] == "99999.00 EUR is above the maximum (1000.00..50000.00)"

    [entry] = Outbox(store).entries()
    content_hash = store.find_records("invoice", [key])[key]["content_hash"]
    assert entry.id == decision["outbox_id"]
    assert entry.kind == SUBMIT_KIND
    assert entry.idempotency_key == idempotency_key(key, content_hash)
    assert entry.payload == {
        "request_id": entry.idempotency_key, "invoice_number": "F-1", "vendor_id": "C1001",
        "platform": "scf-test", "amount": "1210.00", "currency": "EUR", "status": "pending",
        "maturity_date": "2026-04-01",
    }
    assert list(validator("financing_request").iter_errors(entry.payload)) == []
    decide_audit = [e for e in store.audit_entries() if e["action"] == "financing.decide"]
    assert decide_audit[0]["subject"] == "run:run-1"
    assert decide_audit[0]["details"]["eligible"] == 1


def test_deciding_again_does_not_enqueue_an_invoice_twice(loaded, rules):
    store = loaded
    decide_and_enqueue(store, None, TODAY, "run-1", rules=rules)
    again = decide_and_enqueue(store, None, TODAY, "run-2", rules=rules)
    assert (again.eligible, again.enqueued) == (0, 0)
    assert again.by_rule["not_already_submitted"] == 1
    # Even a changed invoice (new content hash, new key) is not offered again.
    load(store, "invoice", [invoice(amount_incl_tax="1300.00", amount_excl_tax="1090.00")])
    third = decide_and_enqueue(store, None, TODAY, "run-3", rules=rules)
    assert (third.eligible, third.enqueued) == (0, 0)
    assert len(Outbox(store).entries()) == 1
    latest = stored_decisions(store, invoice_key(invoice()))
    assert [(d["run_id"], d["rule"]) for d in latest] == [
        ("run-3", "not_already_submitted"), ("run-2", "not_already_submitted"), ("run-1", ELIGIBLE_RULE)]
    assert latest[0]["reason"].startswith("already submitted: outbox entry ")


def test_the_same_invoice_twice_in_one_batch_is_decided_once(loaded, rules):
    records = loaded.current_records("invoice")
    result = decide_and_enqueue(loaded, records[:1] * 2, TODAY, "run-1", rules=rules)
    assert result.decided == 1


def test_a_failing_decide_run_leaves_no_decision_and_no_outbox_entry(loaded, rules, monkeypatch):
    def broken(*args, **kwargs):
        raise StoreError("platform payload cannot be built")

    monkeypatch.setattr(decide_mod, "submission_payload", broken)
    actions_before = [e["action"] for e in loaded.audit_entries()]
    with pytest.raises(StoreError, match="cannot be built"):
        decide_and_enqueue(loaded, None, TODAY, "run-1", rules=rules)
    assert Outbox(loaded).entries() == []
    assert stored_decisions(loaded, invoice_key(invoice(invoice_number="F-3"))) == []
    assert [e["action"] for e in loaded.audit_entries()] == actions_before


def test_explain_reports_every_rule_and_needs_a_vendor_when_ambiguous(loaded, rules):
    exp = explain(loaded, "F-3", today=TODAY, rules=rules)
    assert exp.decision.rule == "amount_range"
    assert exp.stored == []
    load(loaded, "invoice", [invoice(invoice_number="F-3", vendor_id="C1003", amount_incl_tax="2000.00")])
    with pytest.raises(StoreError, match=r"several vendors \(C1001, C1003\); pass --vendor"):
        explain(loaded, "F-3", today=TODAY, rules=rules)
    assert explain(loaded, "F-3", vendor_id="C1003", today=TODAY, rules=rules).decision.eligible
    with pytest.raises(StoreError, match="no invoice F-404"):
        explain(loaded, "F-404", today=TODAY, rules=rules)


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture
def cli_env(loaded, store_url, tmp_path, monkeypatch):
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(RULES_YAML)
    monkeypatch.setenv("LEDGERLINK_STORE_URL", store_url)
    monkeypatch.setenv(RULES_ENV, str(rules_path))
    return loaded


def test_cli_explain_shows_each_rule_the_decisive_one_and_the_stored_decision(cli_env, capsys):
    assert main(["financing", "explain", "F-3", "--today", "2026-03-02"]) == 0
    out = capsys.readouterr().out
    assert "FAIL  amount_range" in out
    assert "pass  invoice_status" in out
    assert "NOT ELIGIBLE: decisive rule amount_range: 99999.00 EUR is above the maximum" in out
    assert "no stored decision" in out

    assert main(["financing", "explain", "F-1", "--today", "2026-03-02"]) == 0
    assert "\nELIGIBLE: decisive rule all_rules_passed: all 8 rules passed" in capsys.readouterr().out

    decide_and_enqueue(cli_env, None, TODAY, "run-7", rules=load_rules())
    assert main(["financing", "explain", "F-1", "--today", "2026-03-02"]) == 0
    out = capsys.readouterr().out
    assert "FAIL  not_already_submitted  already submitted: outbox entry" in out
    assert "NOT ELIGIBLE: decisive rule not_already_submitted" in out
    assert "stored decisions (newest first):" in out
    assert "eligible    all_rules_passed  run run-7  rules 2026-03-01, outbox entry" in out

    assert main(["financing", "explain", "F-1", "--today", "2026-03-02", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rule"] == "not_already_submitted"
    assert [c["passed"] for c in data["checks"]] == [True] * 7 + [False]
    assert data["stored"][0]["run_id"] == "run-7"

    assert main(["financing", "explain", "F-404"]) == 2
    assert "no invoice F-404" in capsys.readouterr().err


def test_cli_outbox_lists_and_replays_dead_letters(cli_env, capsys):
    decide_and_enqueue(cli_env, None, TODAY, "run-1", rules=load_rules())
    box = Outbox(cli_env)
    [entry] = box.claim("w1")
    assert main(["financing", "outbox"]) == 0
    assert f"{entry.id:>6}  in_flight  financing.submit    attempts 0" in capsys.readouterr().out
    assert main(["financing", "outbox", "--dead"]) == 0
    assert "no dead outbox entries" in capsys.readouterr().out

    for _ in range(box.policy.max_attempts):
        box.mark_failed(entry.id, "HTTP 422: amount mismatch", retry_after=0)
        box.claim("w1")
    assert main(["financing", "outbox", "--dead"]) == 0
    out = capsys.readouterr().out
    assert "dead" in out and "last error: HTTP 422: amount mismatch" in out

    assert main(["financing", "replay", str(entry.id)]) == 0
    assert f"replayed 1 dead letters: {entry.id}" in capsys.readouterr().out
    assert box.get(entry.id).status == "pending"
    assert main(["financing", "replay", str(entry.id)]) == 2
    assert "only dead entries can be replayed" in capsys.readouterr().err
    assert cli_env.verify_audit_chain().ok
