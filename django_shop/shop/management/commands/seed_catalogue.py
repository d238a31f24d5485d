"""`manage.py seed_catalogue`: a dozen demo products, only when the catalogue is empty."""

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.utils.text import slugify

from shop.models import Product

PRODUCTS = [
    ("Espresso Cup", "A thick-walled porcelain cup that keeps a double shot hot.", "9.50", 40),
    ("Pour-Over Kettle", "Gooseneck kettle for a slow, even pour.", "39.00", 15),
    ("Ceramic Dripper", "Single-cup dripper, fits standard paper filters.", "18.00", 25),
    ("Paper Filters (100)", "Unbleached filters for the ceramic dripper.", "5.00", 100),
    ("Hand Grinder", "Burr grinder with 30 click settings.", "64.00", 10),
    ("Burundi Beans 250 g", "Washed process; notes of red currant and cocoa.", "14.50", 30),
    ("Colombia Beans 250 g", "Honey process; caramel and orange.", "13.00", 30),
    ("Decaf Beans 250 g", "Swiss water decaf that still tastes of coffee.", "12.00", 20),
    ("Milk Jug", "Stainless steel jug for steaming 350 ml of milk.", "16.00", 18),
    ("Tamper", "58 mm flat-base tamper with a walnut handle.", "29.00", 12),
    ("Scale", "0.1 g kitchen scale with a built-in timer.", "45.00", 8),
    ("Travel Mug", "Double-walled mug that fits under most machines.", "22.00", 35),
]


class Command(BaseCommand):
    help = "Load the demo catalogue when there are no products yet."

    def handle(self, *args: Any, **options: Any) -> None:
        if Product.objects.exists():
            self.stdout.write("The catalogue already has products; nothing to do.")
            return
        Product.objects.bulk_create(
            Product(
                name=name,
                slug=slugify(name),
                description=description,
                price=Decimal(price),
                stock=stock,
            )
            for name, description, price, stock in PRODUCTS
        )
        self.stdout.write(self.style.SUCCESS(f"Added {len(PRODUCTS)} products."))
