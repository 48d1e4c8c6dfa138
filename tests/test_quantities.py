"""The quantity reader: every number keeps the role it has in the draft (COACHING.md's table)."""

from __future__ import annotations

import pytest

from krcoach.rules.quantities import metric_phrase, read, slot_errors


@pytest.mark.parametrize(("text", "roles"), [
    ("Weekly active teams from 1,200 to 2,000 by Q4", {"1,200": "baseline", "2,000": "target"}),
    ("NPS (today: 31) to 45", {"31": "baseline", "45": "target"}),
    ("Grow MAU to 50k (currently ~32k)", {"50k": "target", "32k": "baseline"}),
    ("Activation de 60% a 75%", {"60%": "baseline", "75%": "target"}),
    ("Lower cost per acquisition from $180 down to $120", {"$180": "baseline", "$120": "target"}),
    ("MTTR for sev1 incidents: 4h → 1h", {"4h": "baseline", "1h": "target"}),
    ("eNPS from +8 to +25", {"8": "baseline", "25": "target"}),
    ("Increase signups by 40%", {"40%": "delta"}),
    ("Scope 1+2 CO2 emissions -15% vs 2024", {"-15%": "delta", "2024": "year"}),
    ("Reach 30 more contributors than last quarter", {"30": "delta"}),
    ("95% of refund requests settled within 48 hours", {"95%": "target", "48 hours": "definition"}),
    ("Improve 30-day retention from 40% to 55%", {"30": "definition", "40%": "baseline", "55%": "target"}),
    ("Medication errors reported per 1,000 doses: 4.1 → 2.0", {"1,000": "definition", "4.1": "baseline"}),
    ("Make sure 80% of reps reach 90% of quota", {"80%": "target", "90%": "threshold"}),
    ("Close 10 deals over $40k", {"10": "target", "$40k": "threshold"}),
    ("CSAT rated 4 or 5 by 85% of respondents", {"4": "threshold", "5": "threshold", "85%": "target"}),
    ("Students receiving ≥ 3 tutoring sessions/week improve scores by 10 pts", {"3": "threshold", "10 pts": "delta"}),
    ("Share of voice vs top 3 competitors from 12% to 18%", {"3": "definition", "12%": "baseline"}),
    ("Upgrade to Postgres 16 to unblock enterprise customers", {"16": "version"}),
    ("Hire 3x designers", {"3x": "work"}),
    ("Publish 12 case studies in 2026", {"12": "work", "2026": "deadline"}),
    ("Prototype tested with 8 users; ≥6 complete onboarding unaided", {"8": "work", "6": "target"}),
    ("Get 2000 readers and 5000 reads on our blog in Q2", {"2000": "target", "5000": "target"}),
    ("Average handle time 2m45s", {"2m45s": "target"}),
    ("Returns processed within 3 days (currently ~9)", {"3 days": "target", "9": "baseline"}),
])
def test_every_number_has_the_role_it_has_in_the_draft(text: str, roles: dict[str, str]) -> None:
    found = {q.text: q.role for q in read(text).quantities}
    for written, role in roles.items():
        assert found.get(written) == role, f"{written!r} in {text!r}: {found}"


def test_a_window_is_never_the_deadline_and_a_period_is() -> None:
    assert read("Launch v2 and lift activation from 22% to 35% within 60 days of launch").deadline is None
    assert read("Keep p95 API latency under 300ms through Q3").deadline == "through Q3"
    assert read("40% of Q1 first-timers contribute again").deadline is None  # a cohort, not a date


@pytest.mark.parametrize(("text", "metric"), [
    ("Make sure 80% of reps reach 90% of quota", "Share of reps that reach 90% of quota"),
    ("Improve 30-day retention from 40% to 55%", "30-day retention"),
    ("Reach 2m monthly visits", "monthly visits"),
    ("We process 99.95% of uploads without a retry", "Share of uploads we process without a retry"),
    ("Keep p95 API latency under 300ms through Q3", "p95 API latency"),
    ("Number of eligible Veterans enrolled is increased by X%", "Number of eligible Veterans enrolled"),
    ("Decrease number of duplicates in CRM (or increase reliability)", "number of duplicates in CRM"),
    ("Ad-hoc data requests answered within 2 days", "time until ad-hoc data requests answered"),
    ("Lost-time injuries: zero", "Lost-time injuries"),
    ("Average permit decision time from 42 to 20 working days", "Average permit decision time (working days)"),
    ("Grow demo requests from 80 to 200 per month by end of Q3", "demo requests per month"),
    ("Average length of stay down by 0.5 days without raising readmissions", "Average length of stay"),
    ("Dropout in first-year engineering: cut by a third", "Dropout in first-year engineering"),
])
def test_the_metric_keeps_its_words_and_defining_numbers_only(text: str, metric: str) -> None:
    assert metric_phrase(text) == metric


def test_slot_errors_name_the_role_a_misplaced_number_had() -> None:
    draft = "Upgrade to Postgres 16 to unblock enterprise customers"
    errors = slot_errors(draft, "Enterprise deals blocked", None, "16", None)
    assert errors and "version" in errors[0] and "target" in errors[0]
    assert slot_errors("Improve 30-day retention from 40% to 55%", "30-day retention", "40%", "55%", "Q3") == []
    # the baseline used as the target, and a window used as the deadline, are both caught
    assert slot_errors("Improve retention from 40% to 55%", "Retention", None, "40%", None)
    assert slot_errors("95% of tickets resolved within 48 hours", "Tickets resolved", None, "95%", "48 hours")
    # the cycle is a deadline the draft did not have to write
    assert slot_errors("NPS from 31 to 45", "NPS", "31", "45", "2026 Q3", cycle="2026 Q3") == []


def test_a_change_in_words_is_a_target_without_invented_digits() -> None:
    from krcoach.rules.engine import review_kr
    from krcoach.models import KeyResult

    double = review_kr(KeyResult(id="1", kr="Double demo requests from the pricing page (currently ~90/mo)"))
    assert (double.rewrites[0].baseline, double.rewrites[0].target) == ("~90/mo", "double the baseline")
    third = review_kr(KeyResult(id="2", kr="Dropout in first-year engineering: cut by a third"))
    assert third.rewrites[0].target == "a third below the baseline"
    down = review_kr(KeyResult(id="3", kr="Average length of stay down by 0.5 days without raising readmissions"))
    assert down.rewrites[0].target == "-0.5 days"


def test_noun_phrase_refuses_fragments_and_repairs_clauses() -> None:
    from krcoach.rules.quantities import noun_phrase
    assert noun_phrase("Ensure that share of tickets that are closed within 2 days") == "share of tickets closed within 2 days"
    assert noun_phrase("New members join the forum") == "New members that join the forum"
    for fragment in ("There are daily", "Up the community", "Lead time (shorter", "Mentions w", "Churn, e.g. refunds"):
        assert noun_phrase(fragment) is None, fragment
    assert noun_phrase("Sign ups") == "Sign ups"


def test_a_scale_in_a_target_is_the_scale() -> None:
    from krcoach.rules.quantities import slot_errors
    assert not slot_errors("Average rating of 4.6/5 or higher", "Average rating (out of 5)", None, "4.6", None)


def test_a_count_before_a_name_is_not_a_year_and_a_year_stays_one() -> None:
    from krcoach.rules.quantities import read
    assert [q.role for q in read("Reach 2000 Newsletter subscribers").quantities] == ["target"]
    assert [q.role for q in read('Get 2000 "Members" on the forum').quantities] == ["target"]
    assert [q.role for q in read("Ship the app in 2027 Q2").quantities] == ["deadline"]


def test_the_metric_drops_a_finite_verb_of_change_and_keeps_a_relative_clause() -> None:
    from krcoach.rules.quantities import metric_phrase, noun_phrase
    assert metric_phrase("Number of approved grant applications increases by 15%") == \
        "Number of approved grant applications"
    assert metric_phrase("Median wait for a callback has decreased by 20%") == "Median wait for a callback"
    assert metric_phrase("At least 70% of mentors find the new guide useful") == \
        "Share of mentors that find the new guide useful"
    # a clause that names who is counted may hold its own verbs; a cut-short one may not
    assert noun_phrase("Farmers who understand why soil tests are useful") == \
        "Farmers who understand why soil tests are useful"
    for fragment in ("Pricing model that contains", "Renew and recruit student chapters", "Properly address the backlog",
                     "All new kiosks have shorter queues than those they replaced"):
        assert noun_phrase(fragment) is None, fragment


def test_a_deadline_slot_may_hold_any_date_the_draft_writes() -> None:
    from krcoach.rules.quantities import slot_errors
    draft = "Reach 800 members by the end of 2026, and 1,200 members by the end of 2027"
    assert slot_errors(draft, "Members", None, "1,200", "the end of 2027") == []
