"""A labelled set of realistic requests for routing tests: what tier a careful engineer would pick.

Labels: ``small`` for lookups, support questions, classification, extraction, translation and
rewording (whatever the input's length); ``medium`` for summaries of long documents, code review and
debugging, step-by-step or multi-step work, deep conversations, data analysis; ``large`` for proofs,
system architecture and long multi-part analyses. Long documents are generated deterministically.

Written by hand, so used only where hand-written requests are the point: the signals that ``Threshold``,
``Labels`` and user callables read (test_signals.py, test_policies.py). ``route="auto"`` is fitted and
checked on real labelled prompts instead (test_classifier.py, ``../shared/routing-dev``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

_SENTENCES = {
    "report": [
        "Revenue for the quarter grew {n}% year over year, driven mainly by the enterprise segment.",
        "Operating expenses rose to ${n}.{m} million as the company expanded its sales team in Europe.",
        "Gross margin declined by {m} points because of higher cloud infrastructure costs.",
        "Customer churn in the SMB tier remained elevated at {m}.{n}% per month.",
        "The board approved a share buyback program of up to ${n} million over two years.",
        "Management expects headwinds from currency fluctuations in the second half.",
        "Net retention among the top {n} accounts exceeded 120% for the third consecutive quarter.",
        "The new pricing model was rolled out to {n}% of customers by the end of the period.",
    ],
    "meeting": [
        "Priya said the migration to the new billing provider is blocked on the tax integration.",
        "Tom asked whether we can ship the mobile release on the {n}th or need another week of QA.",
        "The group agreed to move the design review to Thursday so that legal can attend.",
        "Ana noted that support tickets about login failures doubled after the last deploy.",
        "Action item: Marcus will draft the vendor comparison and share it by Friday.",
        "There was a long discussion about hiring two more backend engineers next quarter.",
        "Lee reminded everyone that the SOC 2 audit window opens in {n} days.",
        "We decided to deprecate the legacy export endpoint after notifying customers.",
    ],
    "incident": [
        "At 14:{n} UTC the error rate on the checkout service rose above {m}%.",
        "The on-call engineer rolled back release 2.{n}.{m} but the errors persisted.",
        "Database connection pools were exhausted because a retry loop had no backoff.",
        "Customers in the EU region saw timeouts for approximately {n} minutes.",
        "The root issue was a configuration change that halved the pool size.",
        "Monitoring did not alert because the threshold was set on averages, not percentiles.",
        "A status page update was published {n} minutes after the first customer report.",
        "Follow-up work includes load tests for the payment path and alert tuning.",
    ],
    "contract": [
        "This Agreement shall commence on the Effective Date and continue for {n} months.",
        "Either party may terminate this Agreement upon {n} days written notice to the other party.",
        "The Supplier shall maintain insurance coverage of not less than ${n} million per occurrence.",
        "All fees are payable within {n} days of the invoice date, excluding disputed amounts.",
        "Confidential Information does not include information that is publicly available.",
        "The Customer may audit the Supplier's compliance no more than once per calendar year.",
        "Neither party shall be liable for indirect, incidental or consequential damages.",
        "This Agreement is governed by the laws of the State of Delaware.",
    ],
    "policy": [
        "Coverage applies to sudden and accidental discharge of water from a plumbing system.",
        "Damage caused by gradual seepage or leakage over {n} days or more is excluded.",
        "The deductible for each covered loss is ${n}00 unless stated otherwise in the schedule.",
        "Additional living expenses are covered for up to {n} months while the home is repaired.",
        "Mold remediation is covered only when it results from a covered water loss.",
        "The insured must take reasonable steps to protect the property from further damage.",
        "Flood, meaning surface water from outside the dwelling, is not covered under this form.",
        "Claims must be reported within {n} days of discovery of the loss.",
    ],
}


def document(kind: str, n_chars: int, seed: int = 0) -> str:
    """A deterministic pseudo-document of about ``n_chars`` characters, in paragraphs."""
    rng = random.Random(f"{kind}-{seed}")
    parts: list[str] = []
    size = 0
    while size < n_chars:
        paragraph = " ".join(
            rng.choice(_SENTENCES[kind]).format(n=rng.randint(2, 60), m=rng.randint(1, 9))
            for _ in range(rng.randint(3, 6))
        )
        parts.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(parts)[:n_chars]


PY_CODE = """```python
def merge_user_records(primary, secondary):
    result = primary
    for key in secondary:
        if key not in result or result[key] == None:
            result[key] = secondary[key]
    emails = primary["emails"] + secondary["emails"]
    result["emails"] = list(set(emails))
    result["last_login"] = max(primary["last_login"], secondary["last_login"])
    return result


def load_users(path):
    users = []
    for line in open(path):
        users.append(json.loads(line))
    return users
```"""

JS_CODE = """```jsx
export function OrderList({ userId }) {
  const [orders, setOrders] = useState([]);
  useEffect(() => {
    fetch(`/api/users/${userId}/orders`).then(r => r.json()).then(setOrders);
  });
  return (
    <ul>
      {orders.map(o => <li>{o.id}: {o.total}</li>)}
    </ul>
  );
}
```"""

SQL_CODE = """```sql
SELECT c.id, c.name, SUM(o.total) AS lifetime_value
FROM customers c
JOIN orders o ON o.customer_id = c.id
WHERE LOWER(c.email) LIKE '%@example.com'
  AND o.created_at > NOW() - INTERVAL '2 years'
GROUP BY c.id, c.name
ORDER BY lifetime_value DESC;
```"""

GO_CODE = """package cache

type Cache struct {
	mu    sync.Mutex
	items map[string]entry
}

func (c *Cache) Get(key string) (string, bool) {
	e, ok := c.items[key];
	if !ok || time.Now().After(e.expires) {
		return "", false;
	}
	return e.value, true;
}

func (c *Cache) Set(key, value string, ttl time.Duration) {
	c.mu.Lock()
	c.items[key] = entry{value: value, expires: time.Now().Add(ttl)};
	c.mu.Unlock()
}
"""


@dataclass(frozen=True)
class Example:
    """One labelled request: the SDK keyword arguments and the tier it deserves."""

    name: str
    tier: str
    task: str
    """The task label a scope would carry (for the Labels policy)."""
    kwargs: dict[str, Any] = field(hash=False)
    provider: str = "anthropic"

    @property
    def text(self) -> str:
        """The last user message's text (for the simulator's difficulty())."""
        messages: Any = self.kwargs.get("messages") or self.kwargs.get("input")
        if isinstance(messages, str):
            return messages
        content = messages[-1]["content"]
        if isinstance(content, str):
            return content
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))


def ask(text: str, *, max_tokens: int = 1024, system: str | None = None, **extra: Any) -> dict[str, Any]:
    """Anthropic messages.create kwargs for one user message."""
    kwargs: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }
    if system is not None:
        kwargs["system"] = system
    return kwargs


def chat(*turns: str, max_tokens: int = 1024, **extra: Any) -> dict[str, Any]:
    """Anthropic kwargs for a conversation: alternate user/assistant turns, user first and last."""
    roles = ["user", "assistant"]
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": max_tokens,
        "messages": [{"role": roles[i % 2], "content": t} for i, t in enumerate(turns)],
        **extra,
    }


def openai_chat(text: str, *, system: str | None = None, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    return {"model": "gpt-4.1", "messages": [*messages, {"role": "user", "content": text}], **extra}


def responses(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4.1", "input": text, **extra}


SUPPORT_SYSTEM = "You are a helpful support agent for Acme Cloud. Be concise and friendly."
TOOLS = [
    {"name": name, "description": f"{name.replace('_', ' ')}", "input_schema": {"type": "object"}}
    for name in ("get_orders", "get_customer", "issue_refund", "send_email", "create_ticket")
]
INVOICE = (
    "ACME SUPPLIES LTD\nInvoice No: INV-2024-08817\nDate: 12 March 2024\nBill to: Northwind Traders, "
    "221B Baker Street, London\n\nItem                 Qty   Unit    Amount\nPrinter paper A4      40   4.50   "
    "180.00\nToner cartridge        6  62.00   372.00\nDelivery               1  15.00    15.00\n\n"
    "Subtotal 567.00\nVAT (20%) 113.40\nTotal due 680.40 GBP\nPayment terms: 30 days.\n"
) * 3
ADDRESS_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "address",
        "schema": {
            "type": "object",
            "required": ["street", "city", "postcode"],
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "postcode": {"type": "string"},
            },
        },
    },
}

S, M, L = "small", "medium", "large"

CALIBRATION: tuple[Example, ...] = (
    # --- small: support, lookups, classification, extraction, translation, rewording ---
    Example("reset-password", S, "support", ask("How do I reset my password?", system=SUPPORT_SYSTEM)),
    Example("opening-hours", S, "support", ask("Are you open on Sunday, and until what time?", system=SUPPORT_SYSTEM)),
    Example("order-status", S, "support", ask("My order #48213 still hasn't arrived. Can you check where it is?", system=SUPPORT_SYSTEM)),
    Example("capital", S, "lookup", ask("What's the capital of Australia?", max_tokens=50)),
    Example("units", S, "lookup", ask("Convert 72 degrees Fahrenheit to Celsius.", max_tokens=100)),
    Example(
        "sentiment", S, "classify",
        ask("Classify the sentiment of this review as positive, negative or neutral.\n\n"
            "Review: The blender is loud but it crushes ice in seconds and was easy to clean.", max_tokens=5),
    ),
    Example(
        "ticket-category", S, "classify",
        ask("Categorize this support ticket into one of: billing, technical, account, other. Reply with the "
            "category only.\n\nTicket: I was charged twice for my March subscription and need one refunded.",
            max_tokens=10),
    ),
    Example(
        "spam", S, "classify",
        ask("Is this email spam? Answer yes or no.\n\nSubject: You WON a $500 gift card!!! Click here to claim "
            "before midnight, limited offer, reply with your bank details.", max_tokens=5),
    ),
    Example(
        "invoice-extract", S, "extract",
        openai_chat("Extract the invoice number, date and total due from this invoice as JSON with keys "
                    "invoice_number, date, total.\n\n" + INVOICE, response_format={"type": "json_object"}),
        provider="openai",
    ),
    Example(
        "press-release-entities", S, "extract",
        ask("Extract every person and company named in this press release, as two lists.\n\n"
            + document("report", 2500, 1)
            + "\n\nQuotes: 'We are thrilled', said Jane Okafor, CEO of Brightline Analytics. "
            "Partners include Globex Corporation and Initech."),
    ),
    Example(
        "translate", S, "translate",
        ask("Translate to French: 'Your package will arrive tomorrow between 9am and noon. "
            "Please make sure someone is home to sign for it.'"),
    ),
    Example(
        "grammar", S, "rephrase",
        ask("Fix the grammar and typos: 'Their going to send the the report tomorow, and we was told "
            "its already aproved.'", max_tokens=200),
    ),
    Example(
        "thanks", S, "chat",
        chat("How do I export my invoices?", "Go to Billing > Invoices and click Export CSV.", "Perfect, thanks!"),
    ),
    Example(
        "tags", S, "label",
        ask("Suggest 3 tags for this blog post title: 'Ten lessons from migrating our monolith to Kubernetes'",
            max_tokens=50),
    ),
    Example(
        "address-schema", S, "extract",
        openai_chat("Pull the shipping address out of this message: 'Hi, please send the replacement to "
                    "14 Rue des Lilas, 75012 Paris, France - thanks, Camille'", response_format=ADDRESS_SCHEMA),
        provider="openai",
    ),
    Example("timezone", S, "lookup", responses("What time zone is Tokyo in?"), provider="openai"),
    Example(
        "confirm-meeting", S, "reply",
        openai_chat("Write a friendly one-line reply confirming the meeting at 3pm tomorrow."),
        provider="openai",
    ),
    Example(
        "csv-to-json", S, "convert",
        ask("Convert this CSV row to JSON: id,name,email\n42,Ada Lovelace,ada@example.com", max_tokens=200),
    ),
    Example(
        "contract-dates", S, "extract",
        ask(document("contract", 15000, 2) + "\n\nExtract the term length and the termination notice period."),
    ),
    Example(
        "support-history", S, "support",
        chat("Hi, I can't find the dark mode setting.",
             "It's under Settings > Appearance. Do you see it?",
             "Yes found it. And can I schedule it to switch at night?",
             system=SUPPORT_SYSTEM),
    ),
    # --- medium: summaries of long documents, code review, debugging, multi-step work ---
    Example(
        "quarterly-summary", M, "summarize",
        ask("Summarize the key points of this quarterly report in 5 bullets.\n\n" + document("report", 20000, 3)),
    ),
    Example(
        "meeting-summary", M, "summarize",
        ask(document("meeting", 12000, 4) + "\n\nWrite a summary of this meeting with the decisions and action items."),
    ),
    Example(
        "postmortem-summary", M, "summarize",
        openai_chat("Summarize this incident postmortem for executives in one paragraph.\n\n"
                    + document("incident", 8000, 5)),
        provider="openai",
    ),
    Example("python-review", M, "review", ask("Review this code for bugs and suggest improvements:\n\n" + PY_CODE)),
    Example("react-review", M, "review", ask("Can you review this React component? Anything wrong with it?\n\n" + JS_CODE)),
    Example(
        "keyerror", M, "debug",
        ask("Why does this function raise KeyError: 'emails' for some users, and how should I fix it?\n\n" + PY_CODE),
    ),
    Example(
        "sql-slow", M, "optimize",
        openai_chat("This query takes 40 seconds on 10M orders. How can I optimize it?\n\n" + SQL_CODE),
        provider="openai",
    ),
    Example(
        "replica-steps", M, "howto",
        ask("Walk me through setting up a streaming replica for Postgres 16 step by step, including "
            "how to verify replication lag."),
    ),
    Example(
        "pricing-plan", M, "plan",
        ask("We sell a $29/month plan with 8% monthly churn. First, compute the customer lifetime value; "
            "then estimate how LTV changes if churn drops to 5%; finally, say whether a $50 onboarding "
            "call per customer would pay off."),
    ),
    Example(
        "deploy-chat", M, "chat",
        chat("Our deploy to staging fails with 'ImagePullBackOff'.",
             "That usually means the cluster cannot pull the image. Is the registry private?",
             "Yes, it's a private ECR repo.",
             "Then the node role or an imagePullSecret needs access. Did you add one?",
             "We added the secret in the default namespace.",
             "The secret must be in the same namespace as the pod. Which namespace is the deployment in?",
             "It's in 'payments'. I copied the secret there too but it still fails. Why would it still fail "
             "after copying the secret, and what should I check next?"),
    ),
    Example(
        "db-compare", M, "compare",
        ask("Compare PostgreSQL and MySQL for a small B2B SaaS app with heavy reporting queries. "
            "What are the pros and cons of each, and which would you pick?"),
    ),
    Example(
        "refactor-async", M, "refactor",
        responses("Refactor this Go cache so that Get is safe for concurrent use and expired entries are "
                  "evicted:\n\n" + GO_CODE, instructions="You are a senior Go engineer."),
        provider="openai",
    ),
    Example(
        "sales-analysis", M, "analyze",
        ask("Here are our monthly sales figures. Analyze the trend and explain why Q3 dipped.\n\n"
            + "\n".join(f"2024-{m:02d},{v}" for m, v in enumerate(
                [120, 131, 128, 140, 152, 149, 118, 109, 121, 160, 171, 190] * 6, 1) if m <= 12)
            + "\n" + document("report", 1500, 6)),
    ),
    Example(
        "policy-question", M, "qa",
        ask(document("policy", 30000, 7) + "\n\nDoes this policy cover water damage from a burst pipe in the "
            "kitchen? Quote the clauses that decide it."),
    ),
    Example(
        "refund-agent", M, "agent",
        ask("Customer 8812 says the blender in their last order arrived broken. Check their recent orders, "
            "refund the damaged item, then email them a confirmation.", tools=TOOLS),
    ),
    Example(
        "chart-image", M, "vision",
        {"model": "claude-sonnet-4-6", "max_tokens": 1024, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "text", "text": "This is our weekly active users chart. Analyze the trend: why might "
             "usage drop every fourth week?"},
        ]}]},
    ),
    # --- large: proofs, architecture, long multi-part analysis ---
    Example(
        "integral-domain", L, "prove",
        ask("Prove that every finite integral domain is a field. Give a rigorous proof and point out where "
            "finiteness is used."),
    ),
    Example(
        "halting", L, "prove",
        ask("Prove that the halting problem is undecidable, then derive Rice's theorem as a corollary."),
    ),
    Example(
        "loop-invariant", L, "prove",
        ask("Here is a merge sort. Prove its correctness with a loop invariant for the merge step and show "
            "that it runs in O(n log n) time.\n\n```python\ndef merge_sort(a):\n    if len(a) <= 1:\n        "
            "return a\n    mid = len(a) // 2\n    return merge(merge_sort(a[:mid]), merge_sort(a[mid:]))\n```"),
    ),
    Example(
        "payments-architecture", L, "architecture",
        ask("Design the architecture for a multi-region, event-sourced payments platform handling 50k "
            "transactions per second. Discuss the consistency trade-offs, the failure modes, and how you "
            "would run zero-downtime schema migrations."),
    ),
    Example(
        "microservices", L, "architecture",
        openai_chat("We're splitting a Rails monolith into services. Propose a target architecture, a "
                    "migration plan in phases, and evaluate the trade-offs of synchronous versus "
                    "asynchronous communication between services.", system="You are a principal engineer."),
        provider="openai",
    ),
    Example(
        "raft-paxos", L, "analyze",
        ask("Compare Raft and Paxos with respect to safety and liveness. Why does a linearizable read need "
            "a quorum round-trip or a lease, and what breaks under clock skew?"),
    ),
    Example(
        "financial-analysis", L, "analyze",
        ask(document("report", 10000, 8) + "\n\nUsing the report above:\n1. Analyze the revenue trend by "
            "segment.\n2. Compare the margins against last year.\n3. Evaluate the three biggest risks.\n"
            "4. Recommend a strategy for next year and justify it.\n5. What would change your recommendation?"),
    ),
    Example(
        "threat-model", L, "security",
        ask("Here is the design of our new login flow. Perform a threat model: identify the attack vectors, "
            "assess their likelihood and impact, and recommend mitigations, weighing the usability "
            "trade-offs of each.\n\n" + document("incident", 4000, 9)),
    ),
    Example(
        "fibonacci", L, "prove",
        ask("Derive the closed form of the Fibonacci numbers using generating functions and prove it "
            "rigorously by induction."),
    ),
    Example(
        "scheduler-design", L, "architecture",
        ask("Design a distributed job scheduler that guarantees each job runs at least once and at most "
            "once per window. Analyze the scalability limits, prove that your lease protocol preserves the "
            "invariant, and compare it with a design based on a single leader."),
    ),
    Example(
        "primes-4k3", L, "prove",
        responses("Prove that there are infinitely many primes of the form 4k+3."),
        provider="openai",
    ),
    Example(
        "module-architecture", L, "architecture",
        ask("Review the architecture of this module and propose a refactoring into clear layers. Discuss "
            "the trade-offs of each option.\n\n" + PY_CODE + "\n\n" + "```go\n" + GO_CODE + "```" * 1),
    ),
)  # fmt: skip


HELD_OUT: tuple[Example, ...] = (
    Example("refund-policy", S, "support", ask("What's your refund policy for annual plans?", system=SUPPORT_SYSTEM)),
    Example("language-detect", S, "classify", ask("Which language is this sentence in? 'Ich habe meinen Schlüssel verloren.'", max_tokens=10)),
    Example(
        "resume-extract", S, "extract",
        openai_chat("Extract name, email and years of experience from this resume as JSON.\n\nJohn Carter\n"
                    "john.carter@example.com\nSenior data engineer with 9 years of experience building "
                    "pipelines in Spark and Airflow at two fintech companies.", response_format={"type": "json_object"}),
        provider="openai",
    ),
    Example("rephrase-polite", S, "rephrase", ask("Rephrase this to sound more polite: 'Send me the file now.'", max_tokens=100)),
    Example("define", S, "lookup", responses("What does HTTP status 409 mean?"), provider="openai"),
    Example(
        "meeting-notes-summary", M, "summarize",
        ask("Here are the raw notes from our planning meeting:\n\n" + document("meeting", 9000, 11)
            + "\n\nPlease summarize them for people who missed it."),
    ),
    Example(
        "go-review", M, "review",
        openai_chat("Review this Go code. Is there a race condition?\n\n```go\n" + GO_CODE + "```"),
        provider="openai",
    ),
    Example(
        "debug-chat", M, "debug",
        chat("My pytest run hangs forever on CI but not locally.",
             "Does it hang in a specific test?",
             "Yes, test_upload, which starts a thread pool.",
             "Are the threads daemon threads, and is the pool shut down?",
             "Not daemon, and we never call shutdown. Why would that only hang on CI, and what's the right fix?"),
    ),
    Example(
        "migration-steps", M, "howto",
        ask("Explain step by step how to migrate a Django app from SQLite to Postgres without losing data."),
    ),
    Example(
        "contract-summary", M, "summarize",
        responses("Summarize the obligations of each party in this contract.\n\n" + document("contract", 14000, 12)),
        provider="openai",
    ),
    Example(
        "consistency-proof", L, "prove",
        ask("Prove that two-phase locking guarantees conflict-serializable schedules, and give a "
            "counterexample showing that it does not prevent deadlock."),
    ),
    Example(
        "search-architecture", L, "architecture",
        ask("Design the architecture of a search service for 2 billion documents with sub-100ms p99 latency. "
            "Discuss sharding, replication and the scalability trade-offs."),
    ),
    Example(
        "incident-analysis", L, "analyze",
        ask(document("incident", 9000, 13) + "\n\n1. Analyze the timeline and identify the root cause.\n"
            "2. Why did monitoring miss it?\n3. Evaluate each follow-up item.\n4. Propose changes to our "
            "on-call process and justify them.\n5. Compare this incident with a typical retry storm."),
    ),
    Example(
        "complexity-proof", L, "prove",
        openai_chat("Prove that the union-find structure with union by rank and path compression runs in "
                    "O(m alpha(n)) amortized time; a rigorous sketch of the potential argument is fine."),
        provider="openai",
    ),
)  # fmt: skip

ALL = CALIBRATION + HELD_OUT
