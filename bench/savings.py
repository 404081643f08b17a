#!/usr/bin/env python
"""What costaware saves on a realistic mixed workload, and what it costs in answer quality.

One command, from the repository root::

    python bench/savings.py                # ~25 s; writes bench/results/savings.json

From a clean clone: ``python3 -m venv .venv && .venv/bin/pip install -e '.[all]' &&
.venv/bin/python bench/savings.py``. Method, workload and figures: ``bench/savings.md``.

How: a deterministic workload (fixed seed) of ~700 requests over one simulated hour is sent through
the real ``anthropic`` and ``openai`` clients (``max_retries=0``) to one in-process simulator
(``costaware.sim``, loopback), once per configuration, the simulator reset between runs. The same
application code runs in every configuration; only the ``@cost_aware`` decorator around it differs.
Every request carries its task's ground-truth difficulty in ``x-sim-difficulty`` (and the length of
a good answer in ``x-sim-answer-tokens``); the simulator's capability model
(``costaware.sim.quality``) decides from them whether the answering model meets the quality bar and,
if not, returns a detectable or an undetectable bad answer. costaware never reads those headers:
the benchmark reads the verdict on each *final* answer from ``sim.engine.quality_log()`` by the
response's request id.

Costs are the exact decimal ``costaware.cost.usd_exact`` of every call span (in-memory exporter),
cross-checked against each scope's tracker; savings by technique are the spans'
``costaware.savings.*``; calls per model are the simulator's own counters.
"""

from __future__ import annotations

import os

os.environ.setdefault("ANTHROPIC_OPEN_TELEMETRY", "false")  # one span per call: costaware's

import argparse
import datetime
import json
import platform
import random
import statistics
import sys
import time
import timeit
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUTPUT = BENCH / "results" / "savings.json"
SEED = 20261201
HOUR = 3600.0

# ============================================================================ texts ==========

SUPPORT_POLICY = """\
You are Juniper, the customer support assistant of Northwind Outfitters, an outdoor clothing and
equipment retailer selling online and in 42 stores in the United States and Canada. Answer the
customer's question using only the policies and product information below. Be warm, brief and
specific: quote the relevant rule, give the next step, and never invent order details you cannot see.
If a request needs a human (see "Escalation"), say so and explain what happens next.

## 1. Orders and shipping
1.1 Orders placed before 1 pm Eastern on a business day leave our warehouse the same day; later
orders leave the next business day. Orders containing personalised items (embroidery, engraved
bottles) need two extra business days.
1.2 Standard shipping (3-5 business days) is free on orders of $75 or more after discounts, otherwise
$7.95. Expedited shipping (2 business days) costs $14.95 and overnight shipping $29.95; overnight
orders must be placed before 11 am Eastern and are not available to Alaska, Hawaii or PO boxes.
1.3 We ship to the United States, Canada, the United Kingdom, the European Union, Norway,
Switzerland, Australia, New Zealand and Japan. International orders ship with DHL Express in 4-8
business days for a flat $24.95; duties and import taxes are collected at checkout for the UK, the
EU, Australia and Japan, and by the carrier on delivery everywhere else.
1.4 The shipping address of an order can be changed until the order is marked "Packed". After that
the customer can ask the carrier to redirect the parcel; we cannot change it for them.
1.5 An order may arrive in several parcels when items ship from different warehouses. Each parcel
has its own tracking number, sent by email when it leaves the warehouse.
1.6 A parcel shown as delivered but not received must be reported within 14 days of the delivery
date. We open a carrier investigation, which takes up to 8 business days; if the carrier cannot find
the parcel we send a replacement or refund the items, at the customer's choice.
1.7 Orders cannot be combined after they are placed. Shipping fees of separate orders are not
refunded when the orders ship together by chance.

## 2. Returns
2.1 Unworn, unwashed items with their original tags can be returned within 60 days of delivery for a
refund to the original payment method. Members of Trailhead Rewards at the Summit tier have 90 days.
2.2 Footwear may be returned within 60 days if it has been worn indoors only; footwear worn outdoors
can only be returned under the Northwind Promise (section 5).
2.3 Final-sale items (marked "Final sale" on the product page, including all items discounted by 50%
or more, swimwear bottoms, socks and underwear that have been opened) cannot be returned or exchanged
unless they are defective.
2.4 Returns by mail use the prepaid label from the Returns page. A return shipping fee of $6.95 is
deducted from the refund, except for defective items, wrong items we sent, and exchanges. Returns to
a store are always free.
2.5 International customers ship returns at their own cost to our Toronto or Rotterdam return
centres; duties paid at checkout are refunded with the items, duties paid to the carrier are not.
2.6 Items bought in a store can be returned to any store or by mail; items bought online can be
returned to any store except outlet stores.
2.7 Bundles (for example the Ridgeline Camp Kit) must be returned complete; a single item of a bundle
is refunded at its individual list price minus the bundle discount shared pro rata.

## 3. Refunds and price adjustments
3.1 Refunds go to the original payment method within 5-10 business days of the return being scanned
at the return centre or store. Store returns are refunded immediately at the till.
3.2 Items paid with a gift card are refunded to a new gift card. Items paid with a mix of gift card
and card are refunded to the card first, up to the amount charged to it, then to a gift card.
3.3 Orders paid with Afterpay are refunded to Afterpay, which adjusts the remaining instalments.
3.4 If an item's price drops within 14 days of purchase, we refund the difference once per item on
request. Price adjustments do not apply to clearance events, flash sales, coupon codes or prices at
other retailers.
3.5 Shipping fees are refunded only when the whole order is returned because we sent the wrong or a
defective item.
3.6 Refunds of orders over $2,000, and any refund to a different payment method than the original,
need approval by a supervisor (see "Escalation").

## 4. Exchanges
4.1 Size and colour exchanges of the same item are free within 60 days; the new item ships when the
return is scanned. If the new size is out of stock, the return is refunded instead.
4.2 Exchanges for a different item are processed as a return and a new order.
4.3 Store staff can exchange online purchases if the item is in stock in the store.

## 5. The Northwind Promise (warranty)
5.1 Apparel and footwear are guaranteed against defects in materials and workmanship for 2 years
from purchase; packs, tents and sleeping bags for 5 years; Northwind-brand hardware (stoves, poles,
trekking poles) for life.
5.2 Normal wear and tear, accidents, misuse, alterations, and damage from improper care (see section
12) are not covered. Zipper failures, seam separation and delamination within the warranty period are
covered.
5.3 A warranty claim needs proof of purchase (order number, receipt, or the member account) and
photos of the defect. We repair first; if a repair is not possible we replace the item with the same
or a comparable product, and if none is available we issue store credit at the price paid.
5.4 Repairs take 3-4 weeks at our Portland repair centre. Shipping to the repair centre is free with
the label from the Warranty page.
5.5 Items bought from unauthorised resellers or marketplaces are not covered.

## 6. Damaged, defective and wrong items
6.1 Items damaged in transit or wrong items must be reported within 7 days of delivery with photos of
the item and the parcel. We send a replacement by expedited shipping at no cost, or a refund.
6.2 Defective items found later are handled under the Northwind Promise.
6.3 Never ask the customer to ship back hazardous items (stove fuel, bear spray); ask for photos and
escalate.

## 7. Gift cards
7.1 Gift cards never expire and have no fees. They cannot be exchanged for cash, except where the law
requires it (in California, balances under $10 are paid out on request).
7.2 Lost gift cards can be replaced only if the customer has the card number or the order number of
the purchase. E-gift cards can be resent to the original recipient.
7.3 Gift cards cannot be used to buy other gift cards.

## 8. Trailhead Rewards
8.1 Members earn 1 point per dollar spent (2 points on Northwind-brand items). 100 points give a $5
reward, issued on the 1st of each month and valid for 60 days.
8.2 Tiers: Base Camp (0-499 points a year), Ridge (500-1,499) and Summit (1,500+). Ridge members get
free expedited shipping; Summit members get free expedited shipping, 90-day returns and free repairs
outside the warranty (parts at cost).
8.3 Points for returned items are taken back. A reward used on an order that is returned is not
reissued unless the whole order is returned within 30 days.
8.4 Points can be merged between two accounts of the same person only, once.

## 9. Payments
9.1 We accept Visa, Mastercard, American Express, Discover, PayPal, Apple Pay, Google Pay, Afterpay
(orders of $35-$1,500, US only) and Northwind gift cards. An order can be split between at most one
card and two gift cards.
9.2 Prices are in US dollars on northwind.com and in Canadian dollars on northwind.ca; a card may be
charged a foreign transaction fee by its bank, which we do not refund.
9.3 Cards are authorised when the order is placed and charged when it ships; a cancelled order's
authorisation disappears within 3-5 business days depending on the bank.

## 10. Pre-orders and backorders
10.1 Pre-order items are charged when they ship. The expected ship date is on the product page and in
the confirmation email; if it slips by more than 30 days we email the customer, who can cancel.
10.2 Orders mixing pre-order and in-stock items ship in separate parcels at no extra shipping cost.

## 11. Accounts and privacy
11.1 Password resets are done from the sign-in page; support staff never see or set passwords.
11.2 Account deletion requests are handled by privacy@northwind.example within 30 days; pending
orders and rewards are lost when the account is deleted.
11.3 Customers can unsubscribe from marketing emails from any email's footer; order emails cannot be
turned off.

## 12. Product care
12.1 Waterproof shells: machine wash cold with a technical wash, no fabric softener, tumble dry low
for 20 minutes to reactivate the water repellency. Never dry clean.
12.2 Down jackets and sleeping bags: wash in a front-loading machine with down wash, dry on low heat
with three clean tennis balls until completely dry (2-3 hours).
12.3 Merino wool: wash cold on a wool cycle, dry flat, never tumble dry.
12.4 Tents: never machine wash; clean by hand and dry fully before storage to prevent mildew, which is
not covered by the warranty.
12.5 Leather boots: clean with a brush, condition twice a season, dry away from direct heat.

## 13. Escalation
Hand the conversation to a human agent (say "I'm transferring you to a member of our team") when the
customer: reports an injury or a safety issue with a product; mentions a chargeback, a lawyer or legal
action; asks for a refund over $2,000 or to a different payment method; reports fraud on their
account; or has asked for a human twice. Never promise compensation beyond these policies.
"""

_FAMILIES = (
    ("Alpine Shell Jacket", "waterproof 3-layer shell, 20k/20k membrane, helmet-compatible hood", 329),
    ("Cascade Rain Jacket", "2.5-layer packable rain jacket, 10k/10k membrane", 149),
    ("Summit Down Parka", "800-fill responsibly sourced down, hip length", 399),
    ("Ember Down Vest", "650-fill down vest, water-repellent shell", 179),
    ("Ridgeline Fleece", "recycled grid fleece, quarter zip", 89),
    ("Tundra Base Layer", "200 g/m2 merino wool crew", 95),
    ("Trailrunner 3", "trail running shoe, 6 mm drop, Vibram outsole", 145),
    ("Granite Hiking Boot", "full-grain leather boot, waterproof liner", 229),
    ("Canyon Sandal", "adjustable webbing sandal, recycled straps", 69),
    ("Overland 45 Pack", "45 L backpacking pack, adjustable torso", 249),
    ("Daylite 22 Pack", "22 L day pack with hydration sleeve", 99),
    ("Basecamp 4 Tent", "4-person freestanding tent, 2 doors", 459),
    ("Featherlight 2 Tent", "2-person ultralight tent, 1.3 kg", 399),
    ("Nightfall 20 Sleeping Bag", "-7 C down sleeping bag, 650-fill", 299),
    ("Cirrus Trekking Poles", "carbon trekking poles, flick locks", 139),
    ("Boreal Stove", "canister stove with piezo igniter", 79),
)
_VARIANTS = ("Men's", "Women's", "Kids'", "Unisex")
_STOCK = ("in stock", "low stock", "backordered 2 weeks", "pre-order, ships in March", "online only")
_CARE = ("see 12.1", "see 12.2", "see 12.3", "see 12.4", "see 12.5", "wipe clean")
_COLOURS = ("Moss", "Slate", "Ember", "Glacier", "Black", "Sand", "Fjord", "Rust")


def _catalogue(rng: random.Random) -> str:
    lines = ["", "## 14. Product catalogue (SKU, name, colours, description, price, warranty)"]
    sku = 1000
    for name, description, price in _FAMILIES:
        for variant in _VARIANTS:
            sku += rng.randrange(3, 17)
            colours = ", ".join(rng.sample(_COLOURS, 3))
            years = 5 if "Pack" in name or "Tent" in name or "Bag" in name else 2
            years_text = "lifetime" if "Poles" in name or "Stove" in name else f"{years} years"
            lines.append(
                f"- NW-{sku} {variant} {name} ({colours}): {description}; "
                f"${price + rng.choice((0, 10, 20))}; warranty {years_text}; "
                f"sizes {rng.choice(('XS-XXL', 'S-XL', '6-13', 'one size', '28-38'))}; "
                f"weight {rng.randrange(180, 2400)} g; stock {rng.choice(_STOCK)}; care {rng.choice(_CARE)}."
            )
    return "\n".join(lines) + "\n"


BILLING_POLICY = """\
You are the billing assistant of Cloudlet, a cloud hosting platform. Answer questions about plans,
invoices, payments, credits and taxes using only the rules and price list below. Quote figures exactly,
show your arithmetic for any amount you compute, and hand over to the billing team (say "I've opened a
ticket with our billing team") for anything you cannot settle from these rules.

Plans. Hobby is free (1 project, 512 MB instances, community support). Pro costs $20 per seat per
month and includes $10 of usage credit per seat. Team costs $45 per seat per month, includes $25 of
usage credit per seat, SSO and audit logs. Enterprise is contracted annually with a minimum commitment
of $30,000 and invoiced quarterly in advance.

Billing cycle. Seats are billed monthly in advance on the subscription anniversary; usage is billed
monthly in arrears. Adding a seat mid-cycle is prorated to the day; removing a seat takes effect at the
next renewal and is not refunded. Upgrades take effect immediately and are prorated; downgrades take
effect at the next renewal.

Usage pricing. Compute is billed per second of instance time at the hourly rates in the price list,
bandwidth at $0.08 per GB beyond 100 GB a month per project, block storage at $0.12 per GB-month and
object storage at $0.02 per GB-month plus $0.005 per 1,000 requests. Included usage credit is applied
before any charge and does not roll over.

Payments. Cards (Visa, Mastercard, American Express) are charged on the invoice date. Enterprise and
Team customers may pay by bank transfer (net 30) after a credit check. Failed card payments are retried
after 3, 5 and 7 days; after the third failure the account becomes read-only until paid, and after 30
days unpaid the projects are suspended (data kept for 30 more days).

Refunds and credits. Subscription fees are not refunded, except within 14 days of the first paid
subscription of an organisation. Usage charges caused by a documented platform incident are credited
per the SLA: 10% of the month's compute for availability under 99.9%, 25% under 99%, 50% under 95%.
Credits are requested within 30 days of the incident and applied to the next invoice. Goodwill credits
up to $100 can be granted by the billing team once a year per organisation.

Taxes. Prices exclude taxes. US sales tax is charged in the states where Cloudlet is registered; EU
and UK VAT is charged unless a valid VAT number is provided (reverse charge); Canadian GST/HST by
province; Australian GST at 10%. Tax exemption certificates must be uploaded before the invoice date;
taxes on past invoices are not refunded retroactively.

Currencies. Invoices are in USD, except for organisations created with EUR or GBP billing, which are
charged in that currency at the list price converted at the rate of the first day of the month.

Invoices. Invoices are emailed to billing contacts and available under Settings > Billing. Invoice
details (company name, address, VAT number, PO number) can be changed for future invoices; a past
invoice can be reissued once with corrected details within 60 days.
"""

_REGIONS = (
    "us-east",
    "us-west",
    "eu-central",
    "eu-west",
    "ap-south",
    "ap-northeast",
    "sa-east",
    "ca-central",
)
_SHAPES = (
    ("micro", 0.5, 0.5),
    ("small", 1, 2),
    ("medium", 2, 4),
    ("large", 4, 8),
    ("xlarge", 8, 16),
    ("2xlarge", 16, 32),
    ("mem-large", 4, 32),
    ("mem-xlarge", 8, 64),
    ("cpu-large", 8, 8),
    ("cpu-xlarge", 16, 16),
    ("gpu-t4", 8, 32),
    ("gpu-l4", 16, 64),
)


def _price_list(rng: random.Random) -> str:
    lines = ["", "Price list (instance type, region, vCPU, memory GB, USD per hour, USD per month at 730 h):"]
    for region_index, region in enumerate(_REGIONS):
        factor = 1 + 0.04 * region_index
        for shape, cpus, memory in _SHAPES:
            hourly = (0.012 * cpus + 0.004 * memory) * factor * (6 if shape.startswith("gpu") else 1)
            hourly = round(hourly + rng.randrange(0, 3) / 1000, 4)
            lines.append(
                f"- {shape} / {region}: {cpus} vCPU, {memory} GB, ${hourly:.4f}/h, ${hourly * 730:.2f}/mo"
            )
    return "\n".join(lines) + "\n"


CHAT_PROMPT = """\
You are Aria, a friendly general-purpose assistant in the Northwind Outfitters mobile app. You help
members plan trips, cook outdoors, keep their gear working, and with everyday questions. Guidelines:
- Be concise: short paragraphs, bullet lists for steps, at most about 250 words unless asked for more.
- Ask one clarifying question when a request is ambiguous instead of guessing.
- For safety topics (weather, avalanches, river crossings, wildlife, first aid) give conservative
  advice, name the official source to check (national weather service, avalanche centre, park
  service), and say plainly when a plan sounds unsafe.
- For medical, legal or financial questions give general information only and suggest a professional.
- Never make up opening hours, prices, trail conditions or permit rules; say you cannot check live data
  and point to where to look.
- When recommending gear, mention one Northwind product only if it genuinely fits, and one alternative
  approach that needs no purchase.
- Keep track of what the member said earlier in the conversation (dates, group size, experience,
  budget, dietary needs) and use it without asking again.
- Use metric and imperial units together for distances, weights and temperatures.
- Format code, commands and recipes in Markdown; number steps that must happen in order.
- If the member is upset, acknowledge it in one sentence, then help.
- If asked about orders, returns or refunds, say that Juniper (the support assistant, under Help) can
  look at their order, and summarise the general rule if you know it.
Tone: warm, practical, a little outdoorsy, never preachy. Do not use emojis unless the member does.
"""

# -- support questions ------------------------------------------------------------------------
_PRODUCTS = [f"{v} {n}" for n, _, _ in _FAMILIES for v in ("men's", "women's")]
_COUNTRIES = (
    "Germany",
    "Japan",
    "Mexico",
    "Brazil",
    "the UK",
    "Norway",
    "Australia",
    "South Africa",
    "India",
)
_FAQ = (
    "Where is my order #{n}? It was supposed to arrive {day}.",
    "How long does a refund take to show up on my card?",
    "Do you ship to {country}?",
    "Can I change the size on order #{n}? I ordered a {size} {product} but need a {size2}.",
    "What's the warranty on the {product}?",
    "How do I wash my {product}?",
    "Is standard shipping free? My cart is ${price}.",
    "Can I return something I bought online to a store?",
    "How many points do I get for a ${price} order?",
    "Do gift cards expire?",
    "Hi, what payment methods do you take?",
    "When will my pre-order of the {product} ship?",
    "How do I reset my password?",
    "Can I still change the delivery address on order #{n}? It says processing.",
)
_EDGE = (
    "I bought the {product} with a gift card while visiting {country}, wore it twice and the zipper "
    "split after {days} days. Can I get the refund on my credit card instead of store credit, and do I "
    "pay the return shipping?",
    "My order #{n} came in two boxes, one says delivered {days} days ago but I never got it, and the "
    "other had the wrong colour {product}. What are my options for each, and will I be charged "
    "shipping again?",
    "I'm a Ridge member and returned half of a ${price} order that used a $15 reward. Do I get the "
    "reward back, and what happens to my points for the items I kept?",
    "The {product} I bought {months} months ago on a marketplace is delaminating. Is that covered by the "
    "Northwind Promise if I have a screenshot of the listing but no receipt?",
    "I paid ${price} with Afterpay and a $50 gift card, and I'm returning everything except the socks I "
    "opened. How exactly will the refund be split?",
    "The price of the {product} dropped {days} days after I bought it during the flash sale, and I also "
    "used a coupon. Can I get the difference back?",
    "I bought the Ridgeline Camp Kit for ${price} and only want to return the stove, which I never "
    "used. How much will I get back and can I send it by mail?",
    "My {product} arrived {days} days ago with a torn seam. I'm in {country} and paid duties to the "
    "courier. Will you cover the duties and return shipping if I send it back?",
    "I want to exchange the {product} for a bigger size but it's sold out online; the store near me has "
    "it. Can they swap it, and what if the store is an outlet?",
    "I returned my {product} to the Rotterdam centre {days} days ago and paid duties at checkout. The "
    "refund I got is lower than what I paid. Why, and is the difference the duties?",
)
_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
_DAYS = ("yesterday", "on Monday", "last Friday", "two days ago", "on the 14th")


def support_question(rng: random.Random) -> tuple[str, float]:
    """A support question and its difficulty: FAQ lookups 0.10-0.20, edge cases 0.25-0.35."""
    edge = rng.random() < 0.35
    template = rng.choice(_EDGE if edge else _FAQ)
    size = rng.randrange(len(_SIZES) - 1)
    text = template.format(
        n=rng.randrange(4_100_000, 4_999_999),
        day=rng.choice(_DAYS),
        country=rng.choice(_COUNTRIES),
        size=_SIZES[size],
        size2=_SIZES[size + 1],
        product=rng.choice(_PRODUCTS),
        price=rng.choice((48, 62, 89, 120, 164, 235, 310, 472)),
        days=rng.randrange(3, 40),
        months=rng.randrange(4, 30),
    )
    return text, round(rng.uniform(0.25, 0.35) if edge else rng.uniform(0.10, 0.20), 3)


_BILLING_FAQ = (
    "How much is the Team plan for {seats} seats?",
    "When is my card charged each month?",
    "Where can I download my invoices?",
    "Do you charge VAT? We're a company in {country}.",
    "What does bandwidth cost after the free 100 GB?",
    "Can I pay by bank transfer?",
    "How do I change the company name on future invoices?",
)
_BILLING_EDGE = (
    "We added {seats} Pro seats on day {day} of our cycle and removed two on day {day2}. What will the "
    "next invoice show for seats, and is anything refunded?",
    "There was an outage last month (availability was {sla}%). We spent ${spend} on compute. How much "
    "credit do we get, and when will it appear?",
    "Our card failed twice and the account is read-only. If we pay today by a different card, when do "
    "projects come back, and what happens if the third retry also fails first?",
    "We're in {country}, gave our VAT number after the invoice of the 1st was issued. Can you remove the "
    "VAT from that invoice and reissue it?",
    "We run two {shape} instances in eu-central full time on the Pro plan with 3 seats. Roughly what "
    "will the month cost after credits?",
)


def billing_question(rng: random.Random) -> tuple[str, float]:
    edge = rng.random() < 0.35
    template = rng.choice(_BILLING_EDGE if edge else _BILLING_FAQ)
    text = template.format(
        seats=rng.randrange(3, 40),
        day=rng.randrange(3, 12),
        day2=rng.randrange(14, 27),
        country=rng.choice(("Germany", "France", "Ireland", "Spain", "the Netherlands", "Poland")),
        sla=rng.choice(("99.5", "98.7", "94.2", "99.95")),
        spend=rng.randrange(800, 9000),
        shape=rng.choice(("large", "xlarge", "mem-large")),
    )
    return text, round(rng.uniform(0.25, 0.35) if edge else rng.uniform(0.10, 0.20), 3)


# -- classification --------------------------------------------------------------------------
_PRAISE = (
    "fits perfectly", "kept me dry in a downpour", "super warm", "worth every penny", "light and comfy",
    "the stitching is excellent", "survived a week in the Rockies", "my new favourite",
)  # fmt: skip
_COMPLAINTS = (
    "the zipper broke in a month", "runs two sizes small", "soaked through in light rain",
    "the colour faded after one wash", "seams are coming apart", "way too heavy for what it is",
)  # fmt: skip
_SARCASM = (
    "Great, another 'waterproof' jacket that doubles as a sponge.",
    "Love how the 'lifetime' poles lasted exactly one season.",
    "Five stars for teaching me patience: the zipper needs two hands and a prayer.",
)
REVIEW_SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative", "mixed"]},
        "aspects": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
    },
    "required": ["sentiment", "aspects"],
    "additionalProperties": False,
}
TICKET_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {
            "type": "string",
            "enum": ["shipping", "returns", "warranty", "billing", "account", "other"],
        },
        "urgent": {"type": "boolean"},
    },
    "required": ["category", "urgent"],
    "additionalProperties": False,
}
_TICKETS = (
    "My parcel has been stuck in Memphis for six days, tracking hasn't moved.",
    "I was charged twice for order {n}, please fix this today.",
    "How do I send back boots that are too big?",
    "The hip belt buckle on my pack snapped on the trail.",
    "I can't log in, the reset email never arrives.",
    "Do you have the Featherlight tent in green?",
    "Someone placed an order on my account that I didn't make!",
)


def classification_task(rng: random.Random) -> tuple[str, str, dict[str, Any], float]:
    """(system, user text, schema, difficulty).

    Difficulty: clear-cut reviews and tickets 0.05-0.10, mixed or sarcastic ones 0.10-0.15.
    """
    product = rng.choice(_PRODUCTS)
    if rng.random() < 0.6:
        kind = rng.random()
        if kind < 0.4:
            text = f"{product}: {rng.choice(_PRAISE)}, {rng.choice(_PRAISE)}. Would buy again."
            hard = False
        elif kind < 0.7:
            text = f"{product}: {rng.choice(_COMPLAINTS)} and {rng.choice(_COMPLAINTS)}. Returning it."
            hard = False
        elif kind < 0.9:
            text = (
                f"{product}: {rng.choice(_PRAISE)}, but {rng.choice(_COMPLAINTS)}. Not sure I'd buy it again."
            )
            hard = True
        else:
            text = f"{product}: {rng.choice(_SARCASM)}"
            hard = True
        system = "You label product reviews. Reply with JSON only."
        user = f"Classify the sentiment of this review and list the aspects it mentions.\n\nReview: {text}"
        schema = REVIEW_SCHEMA
    else:
        text = rng.choice(_TICKETS).format(n=rng.randrange(4_100_000, 4_999_999))
        hard = "?" not in text and rng.random() < 0.3
        system = "You triage incoming support tickets. Reply with JSON only."
        user = f"Categorize this ticket and say whether it is urgent.\n\nTicket: {text}"
        schema = TICKET_SCHEMA
    return system, user, schema, round(rng.uniform(0.10, 0.15) if hard else rng.uniform(0.05, 0.10), 3)


# -- extraction ------------------------------------------------------------------------------
INVOICE_SCHEMA = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string"},
        "invoice_number": {"type": "string"},
        "issue_date": {"type": "string"},
        "currency": {"type": "string", "enum": ["USD", "EUR", "GBP", "CAD"]},
        "total": {"type": "number"},
        "line_items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"description": {"type": "string"}, "amount": {"type": "number"}},
                "required": ["description", "amount"],
            },
        },
    },
    "required": ["vendor", "invoice_number", "issue_date", "currency", "total", "line_items"],
}
EMAIL_SCHEMA = {
    "type": "object",
    "properties": {
        "customer_name": {"type": "string"},
        "order_number": {"type": ["string", "null"]},
        "intent": {"type": "string", "enum": ["return", "exchange", "warranty", "where_is_order", "other"]},
        "requested_by": {"type": ["string", "null"]},
    },
    "required": ["customer_name", "order_number", "intent", "requested_by"],
}
_VENDORS = (
    "Pacific Textile Mills",
    "Harbor Freight Logistics",
    "Bergmann Outdoor GmbH",
    "Lakeside Print Co.",
)
_ITEMS = ("Ripstop nylon 70D, 400 m", "Freight Vancouver-Portland", "YKK zippers #5, 2,000 pcs",
          "Hang tags, 10,000", "Down 800-fill, 120 kg", "Customs brokerage fee",
          "Pallet storage, March")  # fmt: skip
_FIRST = ("Maria", "James", "Aiko", "Liam", "Priya", "Noah", "Sofia", "Chen", "Fatima", "Oliver")
_LAST = ("Gonzalez", "Smith", "Tanaka", "O'Brien", "Patel", "Johnson", "Rossi", "Wei", "Haddad", "Brown")


def extraction_task(rng: random.Random) -> tuple[str, str, dict[str, Any], float]:
    """(system, user text, schema, difficulty): clean invoices 0.10-0.18, messy email threads 0.18-0.25."""
    if rng.random() < 0.55:
        items = rng.sample(_ITEMS, rng.randrange(2, 5))
        amounts = [round(rng.uniform(80, 9000), 2) for _ in items]
        currency = rng.choice(("USD", "EUR", "CAD"))
        lines = "\n".join(
            f"  {i + 1}. {item:<34} {amount:>10,.2f}"
            for i, (item, amount) in enumerate(zip(items, amounts, strict=True))
        )
        text = (
            f"{rng.choice(_VENDORS)}\n{rng.randrange(10, 999)} Industrial Way, "
            f"Suite {rng.randrange(1, 40)}\n\n"
            f"INVOICE No. INV-{rng.randrange(2026, 2027)}-{rng.randrange(1000, 9999)}\n"
            f"Date: 2026-{rng.randrange(1, 12):02d}-{rng.randrange(1, 28):02d}    Terms: Net 30\n"
            f"Bill to: Northwind Outfitters, Accounts Payable, Portland OR\n\n{lines}\n\n"
            f"  Subtotal {sum(amounts):>40,.2f}\n  Tax 0.00\n"
            f"  TOTAL DUE ({currency}) {sum(amounts):>30,.2f}\n"
        )
        system = "You extract fields from invoices into JSON. Reply with JSON only."
        user = f"Extract the invoice fields.\n\n{text}"
        return system, user, INVOICE_SCHEMA, round(rng.uniform(0.10, 0.18), 3)
    name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    order = rng.randrange(4_100_000, 4_999_999)
    text = (
        f"From: {name.lower().replace(' ', '.')}@mail.example\nSubject: Re: Re: your order\n\n"
        f"hi again, sorry for the long thread. so the {rng.choice(_PRODUCTS)} from order {order} "
        f"{rng.choice(('is too small', 'has a broken zip', 'never arrived', 'is the wrong colour'))}. my "
        f"sister said i should just "
        f"{rng.choice(('swap it for a large', 'send it back', 'ask for a repair'))} but i'd need it "
        f"before {rng.choice(('the 12th', 'next Friday', 'our trip on May 3', 'Christmas'))}. "
        f"also ignore the old order number {order - rng.randrange(1000, 90000)} in my first email, that was "
        f"last year's.\n\n> On Tue, Juniper wrote:\n> Thanks for reaching out! Could you confirm your order "
        f"number?\n\nthanks, {name.split()[0]}\n"
    )
    system = "You extract structured fields from customer emails. Reply with JSON only."
    user = f"Extract the customer's name, order number, intent and any deadline from this email.\n\n{text}"
    return system, user, EMAIL_SCHEMA, round(rng.uniform(0.18, 0.25), 3)


# -- long documents --------------------------------------------------------------------------
_GENRES = {
    "quarterly business review": (
        "Revenue in the {region} region reached ${m} million in the quarter, {pct}% {updown} year on year, "
        "driven mainly by {driver}.",
        "Gross margin {moved} to {margin}% as {cause}, partly offset by {offset}.",
        "The {team} team closed {k} of its {k2} planned initiatives; the others slipped because {why}.",
        "Inventory days rose to {k} against a target of {k2}, concentrated in {category}.",
        "Customer satisfaction held at {margin} points, with complaints about {complaint} up {pct}%.",
        "We expect {driver} to continue next quarter, but {risk} remains the main risk to the plan.",
    ),
    "incident postmortem": (
        "At {time} UTC the {service} service began returning errors for {pct}% of requests in {region}.",
        "The on-call engineer from the {team} team was paged {k} minutes later and declared a SEV-{sev}.",
        "The root cause was {cause}, introduced by a configuration change {k2} days earlier.",
        "Mitigation involved {driver}, which restored service after {k} minutes.",
        "Customers affected: about {m} thousand; {k2} enterprise accounts opened tickets.",
        "Action items: {offset}; owner: the {team} team; due in {k} days.",
    ),
    "research report on battery chemistry": (
        "Cells with the {category} cathode retained {margin}% of capacity after {k}00 cycles at {pct} C.",
        "Compared with the baseline, impedance growth was {pct}% {updown}, which we attribute to {cause}.",
        "The {team} group repeated the test at {k2} degrees and observed {driver}.",
        "Thermal runaway onset shifted by {k} degrees, a result that {risk} could explain.",
        "Manufacturing yield in the pilot line in {region} reached {margin}% after {offset}.",
        "Further work should isolate {complaint} from electrolyte effects before scale-up.",
    ),
    "meeting transcript": (
        "{name} opened by reviewing the {team} roadmap and the {k} open decisions from last week.",
        "{name} argued that {driver} should take priority over {category} this quarter.",
        "{name} disagreed, pointing out that {risk} and that {cause}.",
        "The group agreed to revisit {complaint} once the {region} pilot reports in {k} weeks.",
        "{name} will draft a proposal on {offset} and circulate it by Friday.",
        "Budget for the {team} team stays at ${m} million pending the {region} results.",
    ),
}
_FILL = {
    "region": ("Pacific Northwest", "Mountain West", "Northeast", "Ontario", "Quebec", "online", "EMEA"),
    "updown": ("up", "down"),
    "moved": ("improved", "fell", "recovered"),
    "driver": ("the new footwear line", "a rebuilt checkout", "wholesale orders from outfitters",
               "rolling back the deploy", "a warmer-than-usual autumn", "stronger loyalty renewals"),
    "cause": ("freight costs eased", "a race in the cache invalidation path", "a supplier price increase",
              "electrolyte decomposition at the interface", "an expired TLS certificate",
              "heavier promotions"),
    "offset": ("adding a canary stage to config rollouts", "higher returns in footwear", "a new QA gate",
               "renegotiating carrier rates", "moving the pilot line to two shifts"),
    "team": ("merchandising", "platform", "payments", "materials science", "supply chain", "retail ops"),
    "why": ("two engineers left", "the vendor slipped", "priorities changed in week six",
            "testing found defects"),
    "category": ("insulated jackets", "NMC-811", "LFP", "kids' footwear", "tents", "small-format stores"),
    "complaint": ("delivery times", "sizing", "zipper quality", "separator wetting", "app crashes"),
    "risk": ("a weaker Canadian dollar", "carrier capacity", "cell swelling at high temperature", "hiring"),
    "service": ("checkout", "inventory-sync", "search", "payments-gateway", "auth"),
    "name": ("Dana", "Marcus", "Ingrid", "Tomás", "Keiko", "Abdul", "Rachel", "Sven"),
}  # fmt: skip


def long_document(rng: random.Random, words: int) -> tuple[str, str]:
    """A generated document of about ``words`` words, and its genre."""
    genre = rng.choice(sorted(_GENRES))
    sentences = _GENRES[genre]
    paragraphs: list[str] = []
    count = 0
    while count < words:
        picked = [rng.choice(sentences) for _ in range(rng.randrange(4, 8))]
        text = " ".join(
            s.format(
                **{k: rng.choice(v) for k, v in _FILL.items()},
                m=rng.randrange(2, 90),
                pct=rng.randrange(2, 40),
                margin=rng.randrange(40, 96),
                k=rng.randrange(2, 60),
                k2=rng.randrange(3, 90),
                time=f"{rng.randrange(0, 24):02d}:{rng.randrange(0, 60):02d}",
                sev=rng.randrange(1, 4),
            )
            for s in picked
        )
        paragraphs.append(text)
        count += len(text.split())
    title = f"{genre.title()}: {rng.choice(_FILL['region'])}, 2026"
    return f"{title}\n\n" + "\n\n".join(paragraphs), genre


_DOC_QUESTIONS = (
    "Which risks does the document identify, and which team owns the follow-up for each?",
    "What changed compared with the previous period, and what explains the biggest change?",
    "List the decisions and action items with their owners and deadlines.",
    "Which figures in the document look inconsistent with each other? Quote them.",
)

# -- code review -----------------------------------------------------------------------------
_SNIPPETS: tuple[tuple[str, str, bool], ...] = (  # (language, code, subtle bug?)
    (
        "python",
        '''def paginate(items, page, per_page=20):
    """Return the items of page `page` (1-based)."""
    start = page * per_page
    end = start + per_page
    return items[start:end]


def total_pages(count, per_page=20):
    return count // per_page
''',
        False,
    ),
    (
        "python",
        """def add_tag(item, tag, tags=[]):
    tags.append(tag)
    item["tags"] = tags
    return item


def load_config(path):
    f = open(path)
    data = json.load(f)
    if "version" not in data:
        raise ValueError("missing version")
    f.close()
    return data
""",
        False,
    ),
    (
        "python",
        """class Counter:
    def __init__(self):
        self.value = 0
        self.lock = threading.Lock()

    def increment(self):
        current = self.value
        with self.lock:
            self.value = current + 1

    def reset_if_above(self, limit):
        if self.value > limit:
            with self.lock:
                self.value = 0
""",
        True,
    ),
    (
        "python",
        """@app.route("/orders")
def orders():
    customer = request.args.get("customer", "")
    sort = request.args.get("sort", "created_at")
    rows = db.execute(
        f"SELECT id, total FROM orders WHERE customer_id = %s ORDER BY {sort}", (customer,)
    ).fetchall()
    return jsonify([dict(r) for r in rows])
""",
        True,
    ),
    (
        "javascript",
        """async function loadProfiles(ids) {
  const results = [];
  ids.forEach(async (id) => {
    const res = await fetch(`/api/profiles/${id}`);
    results.push(await res.json());
  });
  return results;
}

function isAdmin(user) {
  return user.roles.indexOf("admin");
}
""",
        False,
    ),
    (
        "go",
        """func (c *Cache) Get(key string) (string, bool) {
	c.mu.RLock()
	entry, ok := c.items[key]
	c.mu.RUnlock()
	if ok && time.Now().After(entry.expires) {
		delete(c.items, key)
		return "", false
	}
	return entry.value, ok
}

func (c *Cache) Set(key, value string, ttl time.Duration) {
	c.mu.Lock()
	c.items[key] = item{value, time.Now().Add(ttl)}
	c.mu.Unlock()
}
""",
        True,
    ),
    (
        "java",
        """public BigDecimal applyDiscount(BigDecimal price, int percent) {
    double factor = 1 - percent / 100;
    return price.multiply(BigDecimal.valueOf(factor));
}

public boolean sameSku(String a, String b) {
    return a == b;
}
""",
        False,
    ),
    (
        "python",
        """def transfer(db, src, dst, amount):
    balance = db.query("SELECT balance FROM accounts WHERE id = ?", src)[0]
    if balance < amount:
        raise InsufficientFunds(src)
    db.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", amount, src)
    db.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", amount, dst)
    db.commit()
""",
        True,
    ),
    (
        "typescript",
        """export function parseAmount(input: string): number {
  const cleaned = input.replace(",", "");
  return parseFloat(cleaned);
}

export function average(values: number[]): number {
  let sum = 0;
  for (let i = 0; i <= values.length; i++) sum += values[i];
  return sum / values.length;
}
""",
        False,
    ),
    (
        "python",
        """def save_upload(upload, user):
    name = upload.filename
    path = os.path.join(UPLOAD_DIR, user.id, name)
    if os.path.exists(path):
        raise FileExistsError(name)
    with open(path, "wb") as out:
        out.write(upload.read())
    return path
""",
        True,
    ),
)
_CODE_ASKS = (
    "Review this {lang} code for bugs and security problems. Point to the exact lines and propose fixes.",
    "Can you do a code review of this {lang} before I merge it? I care most about correctness.",
    "This {lang} passed the tests but something feels off. Review it and explain any bug you find.",
)
_HELPERS = {
    "python": ("def _now():\n    return datetime.datetime.now(datetime.timezone.utc)\n",
               "LOG = logging.getLogger(__name__)\n",
               "def _chunks(seq, n):\n    for i in range(0, len(seq), n):\n        yield seq[i:i + n]\n"),
    "javascript": ("const log = (...args) => console.log(new Date().toISOString(), ...args);\n",),
    "typescript": ("export const clamp = (x: number, lo: number, hi: number) =>\n"
                   "  Math.min(hi, Math.max(lo, x));\n",),
    "go": ("type item struct {\n\tvalue   string\n\texpires time.Time\n}\n",),
    "java": ("private static final Logger LOG = LoggerFactory.getLogger(Pricing.class);\n",),
}  # fmt: skip


def code_review_task(rng: random.Random) -> tuple[str, float]:
    """A review request and its difficulty: plain bugs 0.50-0.58, subtle ones (races, injection) 0.60-0.70."""
    lang, code, subtle = rng.choice(_SNIPPETS)
    helpers = "\n".join(rng.sample(_HELPERS[lang], min(len(_HELPERS[lang]), rng.randrange(1, 3))))
    ask = rng.choice(_CODE_ASKS).format(lang=lang)
    text = f"{ask}\n\n```{lang}\n{helpers}\n{code}```"
    return text, round(rng.uniform(0.60, 0.70) if subtle else rng.uniform(0.50, 0.58), 3)


# -- hard reasoning --------------------------------------------------------------------------
_HARD = (
    ("Prove by induction that for every n >= 1 the sum of the first n odd numbers is n^2, then prove "
     "the analogous closed form for the sum of the first n cubes and explain where the induction step "
     "needs care.", 0.80),
    ("Prove that the greedy algorithm for interval scheduling (earliest finish time first) is optimal. State "
     "the exchange-argument invariant precisely and prove it maintains it at every step.", 0.85),
    ("Our inventory service must stay consistent across three warehouses with intermittent connectivity. "
     "Design an architecture for stock reservations, compare CRDT counters with a consensus-based ledger, "
     "and analyze the trade-offs for overselling, latency and operational cost.", 0.85),
    ("Derive the expected number of coin flips until two heads in a row, then generalize to k heads in a row "
     "and prove your formula rigorously.", 0.85),
    ("Prove that a graph is bipartite if and only if it contains no odd cycle, and give an O(V+E) algorithm "
     "that returns either a 2-colouring or an odd cycle as a certificate.", 0.90),
    ("Design a rate limiter for a public API serving 200k requests per second across 12 regions. Compare "
     "token bucket per node, a central Redis, and a gossip-based approach; evaluate the trade-offs in "
     "accuracy, scalability and failure modes, and recommend one.", 0.80),
    ("We want to move our monolith's checkout to event sourcing. Analyze the architecture step by step: "
     "the event schema, idempotency, replay, GDPR deletion and the migration plan, with the trade-offs of "
     "each choice.", 0.80),
    ("Prove that every comparison-based sorting algorithm needs Omega(n log n) comparisons in the worst "
     "case, then explain why counting sort does not contradict the theorem.", 0.85),
    ("A warehouse robot fleet must avoid deadlock on a grid with one-way aisles. Formalize the problem, "
     "derive a sufficient invariant that prevents deadlock, prove it, and discuss the scalability of "
     "enforcing it centrally.", 0.95),
    ("Evaluate three architectures for multi-tenant isolation in our SaaS (shared schema, schema per "
     "tenant, database per tenant): analyze cost, blast radius, migrations and noisy neighbours, and "
     "recommend one for 4,000 tenants with a few very large ones. Justify the trade-offs.", 0.75),
    ("Prove that the expected number of comparisons of randomized quicksort is 2n ln n + O(n). Derive the "
     "probability that two elements are compared and sum it rigorously.", 0.90),
    ("Design the consistency model for a collaborative document editor used offline on phones. Compare "
     "OT and CRDTs, prove convergence for the CRDT you choose, and analyze the memory trade-offs.", 0.95),
)  # fmt: skip


def hard_task(rng: random.Random) -> tuple[str, float]:
    """A proof / system design / derivation request; difficulty 0.75-0.95 (its table value +- 0.02)."""
    text, base = rng.choice(_HARD)
    context = rng.choice(
        ("", "This is for a design review tomorrow. ", "I'm preparing for a qualifying exam. ")
    )
    return context + text, round(min(0.95, max(0.75, base + rng.uniform(-0.02, 0.02))), 3)


# -- chats ------------------------------------------------------------------------------------
_CHATS: dict[str, tuple[tuple[float, float], tuple[str, ...]]] = {
    "cooking": ((0.15, 0.25), (
        "What's an easy one-pot dinner I can cook on a camping stove for {k} people?",
        "Nice. One of us is vegetarian, can you adapt it?",
        "How much fuel should I bring for {k2} nights if we cook that every evening?",
        "And breakfast ideas that don't need a fridge?",
        "Can you turn all that into a shopping list?",
        "We'll be at altitude, around 3,000 m. Does that change cooking times?",
        "What about coffee without a French press?",
        "Thanks! Last one: how do we clean up without polluting the stream?",
    )),
    "trip planning": ((0.20, 0.30), (
        "I'm planning a {k2}-day hiking trip in {place} in {month}. Where should I start?",
        "We're two adults, fit but not very experienced with multi-day hikes.",
        "What should we pack for the weather that time of year?",
        "Do we need permits? How do we find out?",
        "How far can we realistically hike each day with full packs?",
        "What's the plan if one of us twists an ankle on day two?",
        "Can you sketch a day-by-day itinerary with rest stops?",
        "Great. What's the one thing first-timers usually forget?",
    )),
    "home network": ((0.30, 0.40), (
        "My home Wi-Fi drops every evening around 8 pm. Where do I start?",
        "It's a mesh system with {k} nodes. The main router is in the basement.",
        "I checked and the channel is set to auto on 2.4 and 5 GHz. Neighbours have lots of networks.",
        "The drops happen on the laptop and phones but the wired TV is fine.",
        "I see 'DFS radar detected' in the router log at the times it drops. What does that mean?",
        "If I pick a non-DFS channel, will the other nodes follow?",
        "Now speeds are lower but stable. Why, and is there a better compromise?",
        "Should I also change the backhaul to wired? Walk me through the trade-offs.",
    )),
    "learning sql": ((0.25, 0.40), (
        "I'm learning SQL. What's the difference between WHERE and HAVING?",
        "Can you show an example with an orders table (id, customer_id, total, created_at)?",
        "How would I get each customer's most recent order?",
        "Why does my query with GROUP BY customer_id and created_at return every row?",
        "Explain window functions with that same table.",
        "Which is faster for 'latest order per customer': the window function or a subquery?",
        "What index would help that query?",
        "Can you give me three exercises to practise, with the answers hidden at the end?",
    )),
    "budgeting": ((0.25, 0.35), (
        "I want to save ${m} for a big trip next year. How should I plan it?",
        "I earn about ${k}00 a month after tax and my fixed costs are about half of that.",
        "Is the 50/30/20 rule realistic for me?",
        "What about my credit card balance of ${k2}0? Pay it first or save in parallel?",
        "How would the plan change if the trip costs 20% more?",
        "Can you put the plan in a month-by-month table?",
        "What apps or methods help people stick to this?",
    )),
    "flaky test": ((0.35, 0.45), (
        "One of our integration tests fails about 1 in {k} runs in CI but never locally. Ideas?",
        "It's a Python test that starts a local HTTP server and calls it with a client.",
        "The failure is a ConnectionRefusedError on the first request.",
        "We start the server in a thread and sleep 0.1 s before the first call.",
        "CI runners have 2 vCPUs and run 4 test workers in parallel.",
        "How would you make the startup deterministic instead of sleeping?",
        "And how do we stop two workers picking the same port?",
        "Can you write the fixture for pytest?",
    )),
}  # fmt: skip
_PLACES = ("the Dolomites", "Patagonia", "the Scottish Highlands", "Yosemite", "the Japanese Alps", "Iceland")
_MONTHS = ("June", "September", "October", "late May", "August")


def chat_script(rng: random.Random) -> tuple[str, float, list[str]]:
    """A conversation: topic, its difficulty (by topic), and its 3-8 user turns."""
    topic = rng.choice(sorted(_CHATS))
    (low, high), turns = _CHATS[topic]
    count = rng.randrange(3, min(8, len(turns)) + 1)
    fills = {"k": rng.randrange(3, 9), "k2": rng.randrange(3, 9), "m": rng.randrange(3, 12) * 1000,
             "place": rng.choice(_PLACES), "month": rng.choice(_MONTHS)}  # fmt: skip
    return topic, round(rng.uniform(low, high), 3), [t.format(**fills) for t in turns[:count]]


# ============================================================================ workload =======


@dataclass(frozen=True)
class Turn:
    """One request: a user message at a time (seconds into the simulated hour)."""

    kind: str
    text: str
    difficulty: float
    answer_tokens: int
    at: float


@dataclass
class Conversation:
    """A thread of requests sharing one history (a single-shot task is a one-turn conversation)."""

    id: int
    provider: str
    model: str
    """The strong model the application asks for (the baseline sends everything there)."""
    system: str | None
    turns: list[Turn]
    max_tokens: int
    schema: dict[str, Any] | None = None
    repeat_of: int | None = None


ANTHROPIC_DEFAULT, ANTHROPIC_STRONG = "claude-sonnet-4-6", "claude-opus-4-6"
OPENAI_DEFAULT, OPENAI_STRONG = "gpt-4.1", "o3"
COMPOSITION = {  # conversations per kind (fixed before any costaware run; see bench/savings.md)
    "support": 200,
    "classify": 80,
    "extract": 60,
    "summary": 30,  # 10 of them continue with 2 follow-up questions ("doc_question")
    "code_review": 40,
    "reasoning": 20,
    "chat": 20,
    "repeat": 40,
    "oa_support": 50,
    "oa_extract": 30,
    "oa_code_review": 15,
    "oa_reasoning": 10,
    "oa_repeat": 10,
}


Spec = tuple[str, str, "str | None", list[Turn], int, "dict[str, Any] | None"]
"""(provider, requested model, system prompt, turns, max_tokens, JSON schema) of one conversation."""


def _single(
    kind: str, provider: str, model: str, max_tokens: int, make: Callable[..., Any]
) -> Callable[..., Spec]:
    """A generator of one-turn tasks from ``make(rng) -> (system, text, schema, d, answer tokens)``."""

    def generate(rng: random.Random) -> Spec:
        system, text, schema, d, answer = make(rng)
        return (
            provider,
            model,
            system,
            [Turn(kind, text, d, answer, rng.uniform(0, HOUR))],
            max_tokens,
            schema,
        )

    return generate


def _summary(rng: random.Random, follow_ups: bool) -> Spec:
    words = rng.randrange(2500, 4501)
    document, genre = long_document(rng, words)
    d = round(min(0.55, max(0.35, 0.35 + 0.2 * (words - 2500) / 2000 + rng.uniform(-0.02, 0.02))), 3)
    ask = (
        f"Summarize the following {genre} for an executive audience in five bullet points, "
        "then one line on what needs a decision.\n\n"
    )
    at = rng.uniform(0, HOUR)
    turns = [Turn("summary", ask + document, d, rng.randrange(250, 450), at)]
    for question in rng.sample(_DOC_QUESTIONS, 2) if follow_ups else ():
        at += rng.uniform(30, 150)
        turns.append(
            Turn("doc_question", question, round(rng.uniform(0.35, 0.50), 3), rng.randrange(120, 260), at)
        )
    return (
        "anthropic",
        ANTHROPIC_DEFAULT,
        "You are an analyst who writes precise, faithful summaries.",
        turns,
        1024,
        None,
    )


def _chat(rng: random.Random) -> Spec:
    _topic, d, texts = chat_script(rng)
    at = rng.uniform(0, HOUR - 900)
    turns = []
    for text in texts:
        turns.append(Turn("chat", text, round(d + rng.uniform(-0.03, 0.03), 3), rng.randrange(80, 250), at))
        at += rng.uniform(20, 120)
    return "anthropic", ANTHROPIC_DEFAULT, CHAT_PROMPT, turns, 1024, None


def build_workload(seed: int = SEED) -> list[Conversation]:
    """The whole workload, deterministic from ``seed``; each kind draws from its own random stream,
    so editing one kind's texts leaves the others unchanged."""
    support_system = SUPPORT_POLICY + _catalogue(random.Random(f"{seed}:catalogue"))
    billing_system = BILLING_POLICY + _price_list(random.Random(f"{seed}:prices"))
    review = "You are a senior engineer doing code review."
    makers: dict[str, tuple[str, str, int, Callable[[random.Random], tuple[Any, ...]]]] = {
        "support": (
            "anthropic",
            ANTHROPIC_DEFAULT,
            1024,
            lambda r: _with_system(support_system, support_question(r), r),
        ),
        "classify": ("anthropic", ANTHROPIC_DEFAULT, 200, lambda r: (*classification_task(r), 20)),
        "extract": ("anthropic", ANTHROPIC_DEFAULT, 800, lambda r: (*extraction_task(r), 80)),
        "code_review": (
            "anthropic",
            ANTHROPIC_STRONG,
            2048,
            lambda r: _with_system(review, code_review_task(r), r, 250, 600),
        ),
        "reasoning": (
            "anthropic",
            ANTHROPIC_STRONG,
            4096,
            lambda r: _with_system(None, hard_task(r), r, 600, 1200),
        ),
        "oa_support": (
            "openai",
            OPENAI_DEFAULT,
            1024,
            lambda r: _with_system(billing_system, billing_question(r), r),
        ),
        "oa_extract": ("openai", OPENAI_DEFAULT, 800, lambda r: (*extraction_task(r), 80)),
        "oa_code_review": (
            "openai",
            OPENAI_STRONG,
            0,
            lambda r: _with_system(review, code_review_task(r), r, 250, 600),
        ),
        "oa_reasoning": (
            "openai",
            OPENAI_STRONG,
            0,
            lambda r: _with_system(None, hard_task(r), r, 600, 1200),
        ),
    }
    out: list[Conversation] = []

    def add(spec: Spec, repeat_of: int | None = None) -> None:
        provider, model, system, turns, max_tokens, schema = spec
        out.append(Conversation(len(out), provider, model, system, turns, max_tokens, schema, repeat_of))

    for kind in ("support", "classify", "extract", "summary", "code_review", "reasoning", "chat",
                 "oa_support", "oa_extract", "oa_code_review", "oa_reasoning"):  # fmt: skip
        rng = random.Random(f"{seed}:{kind}")
        for index in range(COMPOSITION[kind]):
            if kind == "summary":
                add(_summary(rng, follow_ups=index < 10))
            elif kind == "chat":
                add(_chat(rng))
            else:
                provider, model, max_tokens, make = makers[kind]
                add(_single(kind, provider, model, max_tokens, make)(rng))
    for kind, sources in (("repeat", ("support", "classify")), ("oa_repeat", ("oa_support",))):
        rng = random.Random(f"{seed}:{kind}")
        originals = [c for c in out if c.turns[0].kind in sources and c.repeat_of is None]
        for original in rng.sample(originals, COMPOSITION[kind]):
            first = original.turns[0]
            turn = Turn(first.kind, first.text, first.difficulty, first.answer_tokens,
                        min(HOUR, first.at + rng.uniform(10, 900)))  # fmt: skip
            spec = (
                original.provider,
                original.model,
                original.system,
                [turn],
                original.max_tokens,
                original.schema,
            )
            add(spec, repeat_of=original.id)
    return out


def _with_system(
    system: str | None, task: tuple[str, float], rng: random.Random, low: int = 80, high: int = 220
) -> tuple[str | None, str, None, float, int]:
    """``(system, text, no schema, difficulty, answer tokens)`` for a prose task."""
    text, d = task
    return system, text, None, d, rng.randrange(low, high)


def requests_in_order(workload: list[Conversation]) -> list[tuple[float, int, int]]:
    """Every request as ``(time, conversation id, turn index)``, in time order."""
    return sorted((turn.at, conv.id, index) for conv in workload for index, turn in enumerate(conv.turns))


# ============================================================================ application ====


class App:
    """The application under test: the same code in every run (only the decorator around it changes).

    Each request carries its ground truth for the simulator in ``extra_headers``; costaware does not
    read them (it neither routes on nor records ``x-sim-*`` headers).
    """

    def __init__(self, claude: Any, oai: Any) -> None:
        self.claude = claude
        self.oai = oai
        self.sent: list[tuple[str, dict[str, Any]]] = []  # (provider, kwargs) as the app passed them

    def respond(self, conv: Conversation, messages: list[dict[str, Any]], turn: Turn) -> tuple[str, Any]:
        headers = {"x-sim-difficulty": f"{turn.difficulty}", "x-sim-answer-tokens": str(turn.answer_tokens)}
        kwargs: dict[str, Any]
        if conv.provider == "anthropic":
            kwargs = {"model": conv.model, "max_tokens": conv.max_tokens, "messages": messages}
            if conv.system:
                kwargs["system"] = conv.system
            if conv.schema:
                kwargs["output_config"] = {"format": {"type": "json_schema", "schema": conv.schema}}
            self.sent.append(("anthropic", {**kwargs, "extra_headers": headers}))
            message = self.claude.messages.create(**kwargs, extra_headers=headers)
            return "".join(getattr(block, "text", "") for block in message.content), message
        system = [{"role": "system", "content": conv.system}] if conv.system else []
        kwargs = {"model": conv.model, "messages": system + messages}
        if conv.max_tokens:
            kwargs["max_completion_tokens"] = conv.max_tokens
        if conv.schema:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "fields", "schema": conv.schema},
            }
        self.sent.append(("openai", {**kwargs, "extra_headers": headers}))
        completion = self.oai.chat.completions.create(**kwargs, extra_headers=headers)
        return completion.choices[0].message.content or "", completion


# ============================================================================ runs ===========


@dataclass
class Outcome:
    """One request of one run: what it cost, where it went, and whether its final answer is good."""

    conv: int
    kind: str
    provider: str
    requested: str
    final_model: str
    request_id: str
    cost: Decimal
    uncached_at_requested: Decimal
    """The final call's tokens priced at the requested model, uncached (the 'no costaware' reference)."""
    savings: dict[str, float] = field(default_factory=dict)
    escalations: int = 0
    start_tier: str | None = None
    passed: bool | None = None
    failure: str | None = None


class FakeClock:
    """The simulator's clock: the benchmark moves it to each request's arrival time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def oracle_policy(request: Any) -> str:
    """REFERENCE ONLY: routes on the hidden ground-truth label (no real router can). Shows the ceiling."""
    d = float(request.kwargs["extra_headers"]["x-sim-difficulty"])
    return "small" if d <= 0.25 else "medium" if d <= 0.55 else "large"


def configurations() -> dict[str, tuple[str, dict[str, Any]]]:
    """Run name -> (description, ``@cost_aware`` arguments). ``None`` arguments: the baseline."""
    from costaware.core.routing import AutoClassifier, Cascade

    return {
        "baseline": ("requested model, no breakpoints (instrumentation only)", {"cache": False}),
        "cache_only": ("@cost_aware(): prompt-cache breakpoints only", {}),
        "auto": ('@cost_aware(route="auto"): classifier, no cascade, breakpoints', {"route": "auto"}),
        "cascade": (
            "@cost_aware(route=Cascade(max_hops=2)): starts at the classifier's tier, breakpoints",
            {"route": Cascade(max_hops=2)},
        ),
        "cascade_1hop": (
            "@cost_aware(route=Cascade(max_hops=1)): at most one escalation, breakpoints",
            {"route": Cascade(max_hops=1)},
        ),
        "auto_medium_0.5": (
            '@cost_aware(route=AutoClassifier(thresholds={"medium": 0.5, "large": 4.5})): no cascade',
            {"route": AutoClassifier(thresholds={"medium": 0.5, "large": 4.5})},
        ),
        "oracle": (
            "REFERENCE: oracle router on the hidden label + breakpoints (not achievable)",
            {"route": oracle_policy},
        ),
    }


def run_workload(
    name: str,
    scope_args: dict[str, Any],
    workload: list[Conversation],
    app: App,
    sim: Any,
    clock: FakeClock,
    exporter: Any,
    tiers: Any,
) -> tuple[list[Outcome], float]:
    import costaware
    from costaware import cost_aware
    from costaware.core.pricing import PriceBook
    from costaware.core.types import Usage

    costaware.configure(prompt_cache=False if name == "baseline" else None)  # fresh runtime and planner
    sim.reset()
    exporter.clear()
    args = dict(scope_args)
    handlers: dict[str, Callable[..., tuple[str, Any]]] = {}
    kinds = {turn.kind for conv in workload for turn in conv.turns}
    for kind in kinds:
        handlers[kind] = cost_aware(**args, feature=kind, name=f"bench.{kind}")(app.respond)
    prices = PriceBook()
    by_id = {conv.id: conv for conv in workload}
    histories: dict[int, list[dict[str, Any]]] = defaultdict(list)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    for at, conv_id, index in requests_in_order(workload):
        conv, turn = by_id[conv_id], by_id[conv_id].turns[index]
        clock.now = at
        messages = [*histories[conv_id], {"role": "user", "content": turn.text}]
        text, response = handlers[turn.kind](conv, messages, turn)
        histories[conv_id] = [*messages, {"role": "assistant", "content": text}]
        tracked = costaware.last_scope().tracker.total_cost
        spans = [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == "costaware"]
        exporter.clear()
        calls = [s for s in spans if s.kind.name == "CLIENT"]
        if len(calls) != 1:
            raise RuntimeError(f"{name}: expected one call span per request, got {[s.name for s in calls]}")
        attributes = dict(calls[0].attributes or {})
        cost = Decimal(str(attributes["costaware.cost.usd_exact"]))
        if cost != tracked:
            raise RuntimeError(f"{name}: span cost {cost} != scope tracker {tracked}")
        uncached = prices.cost(
            conv.provider,
            Usage(
                input_tokens=int(attributes["gen_ai.usage.input_tokens"]),
                output_tokens=int(attributes["gen_ai.usage.output_tokens"]),
            ),
            response_model=conv.model,
            request_model=conv.model,
        ).total
        assert uncached is not None
        outcomes.append(
            Outcome(
                conv=conv_id,
                kind=turn.kind if conv.repeat_of is None else "repeat",
                provider=conv.provider,
                requested=conv.model,
                final_model=str(attributes.get("gen_ai.response.model", conv.model)),
                request_id=str(response._request_id),
                cost=cost,
                uncached_at_requested=uncached,
                savings={
                    key.removeprefix("costaware.savings."): float(value)
                    for key, value in attributes.items()
                    if key.startswith("costaware.savings.")
                },
                escalations=int(attributes.get("costaware.cascade.escalations", 0)),
                start_tier=attributes.get("costaware.route.tier"),  # type: ignore[arg-type]
            )
        )
    wall = time.perf_counter() - started
    verdicts = sim.engine.quality_log()
    for outcome in outcomes:
        record = verdicts[outcome.request_id]
        outcome.passed, outcome.failure = bool(record["passed"]), record["failure"]
    return outcomes, wall


def tier_of(tiers: Any, provider: str, model: str) -> str:
    ladder = tiers.get(provider)
    tier = ladder.tier_of(model) if ladder is not None else None
    return tier.name if tier is not None else model


def summarise(
    name: str,
    description: str,
    outcomes: list[Outcome],
    wall: float,
    sim_counts: dict[str, dict[str, int]],
    tiers: Any,
) -> dict[str, Any]:
    total = sum((o.cost for o in outcomes), Decimal(0))
    uncached = sum((o.uncached_at_requested for o in outcomes), Decimal(0))
    baseline_estimate = sum(
        (
            Decimal(str(o.savings["baseline_usd"])) if "baseline_usd" in o.savings else o.cost
            for o in outcomes
        ),
        Decimal(0),
    )
    technique = {
        key: round(sum(o.savings.get(f"{key}_usd", 0.0) for o in outcomes), 4)
        for key in ("routing", "prompt_cache", "cascade_overhead")
    }
    calls: Counter[str] = Counter()
    for path, models in sim_counts.items():
        provider = "anthropic" if path.startswith("/v1/messages") else "openai"
        for model, count in models.items():
            calls[f"{provider}:{tier_of(tiers, provider, model)}"] += count
    finals = Counter(f"{o.provider}:{tier_of(tiers, o.provider, o.final_model)}" for o in outcomes)
    escalated = sum(1 for o in outcomes if o.escalations)
    failures = Counter(o.failure for o in outcomes if not o.passed)
    per_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({o.kind for o in outcomes}):
        mine = [o for o in outcomes if o.kind == kind]
        per_kind[kind] = {
            "requests": len(mine),
            "cost_usd": str(sum((o.cost for o in mine), Decimal(0))),
            "quality_share": round(sum(1 for o in mine if o.passed) / len(mine), 4),
            "final_tiers": dict(Counter(tier_of(tiers, o.provider, o.final_model) for o in mine)),
            "escalated": sum(1 for o in mine if o.escalations),
        }
    return {
        "run": name,
        "description": description,
        "requests": len(outcomes),
        "cost_usd": str(total),
        "uncached_at_requested_usd": str(uncached),
        "costaware_baseline_estimate_usd": str(baseline_estimate),
        "savings_by_technique_usd": technique,
        "calls_per_tier": dict(sorted(calls.items())),
        "final_answers_per_tier": dict(sorted(finals.items())),
        "escalated_requests": escalated,
        "escalation_rate": round(escalated / len(outcomes), 4),
        "escalations_total": sum(o.escalations for o in outcomes),
        "quality_share": round(sum(1 for o in outcomes if o.passed) / len(outcomes), 4),
        "final_failures": {str(k): v for k, v in sorted(failures.items(), key=lambda kv: str(kv[0]))},
        "wall_time_s": round(wall, 2),
        "per_kind": per_kind,
    }


def classifier_timing(sent: list[tuple[str, dict[str, Any]]], tiers: Any) -> dict[str, Any]:
    """Per-request cost of ``route("auto", ...)`` on the workload's requests, as the app passed them."""
    from costaware.core.routing import route

    per_request = []
    for provider, kwargs in sent:
        timer = timeit.Timer(lambda p=provider, k=kwargs: route("auto", p, k, tiers))
        per_request.append(min(timer.repeat(repeat=3, number=20)) / 20 * 1e6)
    per_request.sort()

    def pct(q: float) -> float:
        return round(per_request[min(len(per_request) - 1, int(q * len(per_request)))], 1)

    return {
        "requests": len(per_request),
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "max_us": round(per_request[-1], 1),
        "method": "timeit, min of 3 x 20 calls per request, percentiles across requests",
    }


def composition(workload: list[Conversation]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for conv in workload:
        for turn in conv.turns:
            kind = f"{turn.kind} (repeat)" if conv.repeat_of is not None else turn.kind
            rows[(kind, conv.provider, conv.model)].append(turn.difficulty)
    return [
        {"kind": k, "provider": p, "requested_model": m, "requests": len(ds), "difficulty_min": min(ds),
         "difficulty_mean": round(statistics.mean(ds), 3), "difficulty_max": max(ds)}
        for (k, p, m), ds in rows.items()
    ]  # fmt: skip


# ============================================================================ main ===========


def _print_table(summaries: list[dict[str, Any]], reference: Decimal, measured: Decimal) -> None:
    print()
    header = (
        f"{'run':<22}{'cost $':>10}{'vs no-cache':>12}{'vs baseline':>12}{'quality':>9}{'escal.':>8}"
        "  calls per tier"
    )
    print(header)
    print("-" * len(header))
    for s in summaries:
        cost = Decimal(s["cost_usd"])
        tiers = " ".join(
            f"{k.split(':')[0][:2]}:{k.split(':')[1]}={v}" for k, v in s["calls_per_tier"].items()
        )
        print(
            f"{s['run']:<22}{cost:>10.4f}"
            f"{float(1 - cost / reference):>12.1%}{float(1 - cost / measured):>12.1%}"
            f"{s['quality_share']:>9.1%}{s['escalation_rate']:>8.1%}  {tiers}"
        )
    print()
    print(f"{'run':<22}{'routing $':>11}{'cache $':>10}{'cascade $':>11}  final failures")
    for s in summaries:
        t = s["savings_by_technique_usd"]
        print(
            f"{s['run']:<22}{t['routing']:>11.4f}{t['prompt_cache']:>10.4f}{t['cascade_overhead']:>11.4f}"
            f"  {s['final_failures']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=None, help="comma-separated run names (default: all)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    options = parser.parse_args(argv)

    import anthropic
    import openai
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import costaware
    from costaware.core.routing import ladders
    from costaware.sim import Simulator

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    costaware.instrument(tracer_provider=provider, raise_internal_errors=True)
    tiers = ladders()
    workload = build_workload()
    configs = configurations()
    names = (
        list(configs)
        if options.runs is None
        else ["baseline", *[n for n in options.runs.split(",") if n != "baseline"]]
    )
    clock = FakeClock()
    summaries: list[dict[str, Any]] = []
    with Simulator(clock=clock) as sim:
        claude = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="sim", max_retries=0)
        oai = openai.OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0)
        app = App(claude, oai)
        sent: list[tuple[str, dict[str, Any]]] = []
        for name in names:
            description, scope_args = configs[name]
            app.sent = []
            outcomes, wall = run_workload(name, scope_args, workload, app, sim, clock, exporter, tiers)
            if name == "baseline":
                sent = app.sent
            summary = summarise(name, description, outcomes, wall, sim.stats()["requests"], tiers)
            summaries.append(summary)
            print(
                f"{name}: ${Decimal(summary['cost_usd']):.4f}, "
                f"quality {summary['quality_share']:.1%}, {wall:.1f} s",
                flush=True,
            )
    base = summaries[0]
    reference, measured = Decimal(base["uncached_at_requested_usd"]), Decimal(base["cost_usd"])
    timing = classifier_timing(sent, tiers)
    _print_table(summaries, reference, measured)
    print(f"\nno-cache reference (baseline tokens at the requested models, uncached): ${reference:.4f}")
    print(
        f"classifier route('auto'): p50 {timing['p50_us']} us, p99 {timing['p99_us']} us, "
        f"max {timing['max_us']} us"
    )
    for s in summaries:
        s["reduction_vs_no_cache"] = round(float(1 - Decimal(s["cost_usd"]) / reference), 4)
        s["reduction_vs_baseline_run"] = round(float(1 - Decimal(s["cost_usd"]) / measured), 4)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python bench/savings.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "nproc": os.cpu_count(),
        },
        "seed": SEED,
        "workload": {
            "requests": sum(len(c.turns) for c in workload),
            "conversations": len(workload),
            "simulated_span_s": HOUR,
            "composition": composition(workload),
        },
        "quality_model": _quality_model(),
        "no_cache_reference_usd": str(reference),
        "classifier": timing,
        "runs": summaries,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {options.output}")
    return 0


def _quality_model() -> dict[str, Any]:
    from costaware.sim import quality

    return {
        "skill": dict(zip(("small", "mid", "large"), quality.TIER_SKILL, strict=True)),
        "need": "0.5 + 0.5 d",
        "noise": f"+-{quality.NOISE}",
        "bar": quality.BAR,
        "p_detect": quality.P_DETECT,
    }


if __name__ == "__main__":
    raise SystemExit(main())
