"""Generate Tidewell's structured data: customers, orders, order items, shipments and stock.

Seeded and byte-reproducible: running it twice writes identical files. It reads the catalog
`structured/products.csv` (left as it is) and writes, next to it:

    customers.csv    customer_id, name, email, city, joined
    orders.csv       order_id, customer_id, order_date, status, shipping_method, subtotal, shipping, total
    order_items.csv  order_id, line, sku, qty, unit_price
    shipments.csv    order_id, carrier, tracking, shipped_date, expected_delivery, delivered_date
    stock.csv        sku, in_stock, restock_date, as_of

The data follows build/facts.md: the Thermo T2 cost $199.00 until 2023-10-31 and $179.00 from
2023-11-01; standard shipping was free over $50 (else $5.95, express $14.95) until 2024-05-31
and is free from $75 (else $6.95, express $15.95) since 2024-06-01; standard delivery takes
up to 5 business days (6 before 2024-06-01), express up to 2. Products are sold only from
their launch date. Statuses are as of 2024-12-16. No sales tax. Everything is fictional;
e-mail addresses use the reserved example.com / example.net / example.org domains.

    python datasets/tidewell/build/make_structured.py            # rewrite structured/*.csv
    python datasets/tidewell/build/make_structured.py --out DIR  # write elsewhere (to compare)
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from pathlib import Path

SEED = 20241216
AS_OF = dt.date(2024, 12, 16)
FIRST_ORDER, LAST_ORDER = dt.date(2023, 1, 3), dt.date(2024, 12, 15)
ORDERS, HOLIDAY_ORDERS, CUSTOMERS = 300, 20, 60  # the last HOLIDAY_ORDERS fall in Dec 5-15, 2024
T2_PRICE_CUT = dt.date(2023, 11, 1)
NEW_SHIPPING = dt.date(2024, 6, 1)
STRUCTURED = Path(__file__).resolve().parents[1] / "structured"

FIRST = [
    "Nadia",
    "Owen",
    "Priya",
    "Lucas",
    "Maren",
    "Theo",
    "Ines",
    "Callum",
    "Rosa",
    "Felix",
    "Hana",
    "Jasper",
    "Leona",
    "Mateo",
    "Signe",
    "Bram",
    "Elif",
    "Quentin",
    "Talia",
    "Ravi",
]
LAST = [
    "Ferris",
    "Halloway",
    "Kettering",
    "Marsh",
    "Oduya",
    "Pemberton",
    "Quill",
    "Rasmussen",
    "Sandoval",
    "Thorne",
    "Underhill",
    "Varga",
    "Whitlock",
    "Yarrow",
    "Zeller",
    "Ashby",
]
DOMAINS = ["example.com", "example.net", "example.org"]
CITIES = ["Port Alder", "Kestrel Falls", "Greyhaven", "Millbrook", "Saltmarsh", "Cedar Hollow"]
CARRIERS = {"standard": ("Harborline Parcel", "HLP"), "express": ("Quillfast Express", "QFX")}
# Products that are out of stock on AS_OF, with the date new stock arrives.
OUT_OF_STOCK = {"TW-CAM-SOL": "2025-01-13", "TW-GLW-LSX1": "2025-01-06"}


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def cents(price: str) -> int:
    whole, _, frac = price.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def add_business_days(day: dt.date, n: int) -> dt.date:
    while n > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def dispatch_day(ordered: dt.date) -> dt.date:
    """Orders placed on a weekday ship that day (same-day dispatch), weekend orders on Monday."""
    return ordered if ordered.weekday() < 5 else add_business_days(ordered, 1)


def unit_price(product: dict, day: dt.date) -> int:
    if product["sku"].startswith("TW-T2-") and day < T2_PRICE_CUT:
        return cents(product["launch_price_usd"])
    return cents(product["price_usd"])


def shipping_fee(subtotal: int, method: str, day: dt.date) -> int:
    if day >= NEW_SHIPPING:
        return 1595 if method == "express" else (0 if subtotal >= 7500 else 695)
    return 1495 if method == "express" else (0 if subtotal > 5000 else 595)


def read_products(folder: Path) -> list[dict]:
    with (folder / "products.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def generate(products: list[dict], seed: int = SEED) -> dict[str, list[list]]:
    """Every table as a header row followed by data rows."""
    rng = random.Random(seed)
    customers = [["customer_id", "name", "email", "city", "joined"]]
    names: set[str] = set()
    while len(customers) <= CUSTOMERS:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if f"{first} {last}" in names:
            continue
        names.add(f"{first} {last}")
        joined = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(360))
        customers.append(
            [
                f"C{len(customers):03d}",
                f"{first} {last}",
                f"{first.lower()}.{last.lower()}@{rng.choice(DOMAINS)}",
                rng.choice(CITIES),
                joined.isoformat(),
            ]
        )

    span = (dt.date(2024, 12, 4) - FIRST_ORDER).days
    days = sorted(FIRST_ORDER + dt.timedelta(days=rng.randrange(span)) for _ in range(ORDERS - HOLIDAY_ORDERS))
    days += sorted(dt.date(2024, 12, 5) + dt.timedelta(days=rng.randrange(11)) for _ in range(HOLIDAY_ORDERS))

    orders = [["order_id", "customer_id", "order_date", "status", "shipping_method", "subtotal", "shipping", "total"]]
    items = [["order_id", "line", "sku", "qty", "unit_price"]]
    shipments = [["order_id", "carrier", "tracking", "shipped_date", "expected_delivery", "delivered_date"]]
    for number, day in enumerate(days, 1001):
        customer = customers[rng.randrange(1, len(customers))][0]
        on_sale = [p for p in products if dt.date.fromisoformat(p["launched"]) <= day]
        subtotal = 0
        for line, product in enumerate(rng.sample(on_sale, rng.choice([1, 1, 1, 2, 2, 3])), 1):
            qty = 1 if "pack" in product["name"] or rng.random() < 0.7 else 2
            price = unit_price(product, day)
            subtotal += qty * price
            items.append([number, line, product["sku"], qty, money(price)])
        method = "express" if rng.random() < 0.15 else "standard"
        fee = shipping_fee(subtotal, method, day)

        shipped = dispatch_day(day)
        slowest = 2 if method == "express" else (5 if day >= NEW_SHIPPING else 6)
        expected = add_business_days(shipped, slowest)
        delivered = add_business_days(shipped, rng.randint(1 if method == "express" else 2, slowest))
        roll = rng.random()
        if roll < 0.04:
            status = "cancelled"
        elif shipped >= AS_OF or (shipped == AS_OF - dt.timedelta(days=1) and roll < 0.5):
            status = "processing"
        elif delivered > AS_OF:
            status = "shipped"
        elif roll > 0.95 and (AS_OF - delivered).days > 30:
            status = "returned"
        else:
            status = "delivered"
        orders.append(
            [number, customer, day.isoformat(), status, method, money(subtotal), money(fee), money(subtotal + fee)]
        )
        if status in ("shipped", "delivered", "returned"):
            carrier, prefix = CARRIERS[method]
            shipments.append(
                [
                    number,
                    carrier,
                    f"{prefix}{rng.randrange(10**9, 10**10)}",
                    shipped.isoformat(),
                    expected.isoformat(),
                    delivered.isoformat() if status != "shipped" else "",
                ]
            )

    stock = [["sku", "in_stock", "restock_date", "as_of"]]
    for product in products:
        restock = OUT_OF_STOCK.get(product["sku"], "")
        stock.append([product["sku"], 0 if restock else rng.randrange(12, 480), restock, AS_OF.isoformat()])
    return {"customers": customers, "orders": orders, "order_items": items, "shipments": shipments, "stock": stock}


def write(tables: dict[str, list[list]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        path = folder / f"{name}.csv"
        temp = path.with_suffix(".csv.tmp")
        with temp.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
        temp.replace(path)  # never leave a half-written table behind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STRUCTURED, help="folder to write the CSV files to")
    args = parser.parse_args(argv)
    tables = generate(read_products(STRUCTURED))
    write(tables, args.out)
    for name, rows in tables.items():
        print(f"{name}.csv: {len(rows) - 1} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
