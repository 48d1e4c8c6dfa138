"""Example drafts for the drafting page.

They are deliberately messy, the way real first drafts are: activity lists dressed up as key
results, numbers in objectives, placeholders, owners written three different ways, one line that
bundles two goals. A coach loading one on a projector should recognise their own teams in it.
"""

from __future__ import annotations

from typing import NamedTuple


class Example(NamedTuple):
    name: str
    text: str


GROWTH = """\
## Make self-serve the way most new customers start (grow signups 30%)
- Launch the redesigned pricing page (owner: Priya)
- Run 4 A/B tests on the signup form @marco
- Increase trial-to-paid conversion from 4.2% to 6% by end of Q3
- Publish 12 SEO blog posts
- Reach N0 weekly active trial teams

## Customers get value in their first week
- KR1: Ship the new onboarding checklist
- KR2: Hold 5 customer interviews with churned trials (owner: Lea)
- KR3: Cut median time-to-first-report from 3 days to 1 day by September 30
"""

PLATFORM = """\
O1: A platform product teams trust with their releases
1. Migrate all services to Kubernetes
2. Maintain 99.9% API uptime every month
3. Reduce p95 checkout latency from 800ms to 300ms by end of Q4 (owner: Sam)
4. Get SOC 2 Type II certification
5. 50% of services have a runbook

O2: Developers ship without waiting on us
- Build a self-service deploy pipeline and write docs for it
- Lower time from merge to production
- Hire 2 SREs @dana
"""

PEOPLE_CS = """\
Objective: Customers renew because they love us, not because of the contract
- Send the NPS survey to every account every quarter
- NPS from 31 to 45 by Q4
- Publish 5 case studies with enterprise customers
- Gross revenue retention 88% -> 93%
- Train the whole CS team on the new playbook

Objective: Become a place people want to work
- 100% of open roles have a job description
- Launch the mentoring program
- Improve engagement
"""

EXAMPLES: tuple[Example, ...] = (
    Example("Growth team, Q3", GROWTH),
    Example("Platform team", PLATFORM),
    Example("Customer success & people", PEOPLE_CS),
)
