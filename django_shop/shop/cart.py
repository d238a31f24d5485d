"""The shopping cart, kept in the session as {product id: quantity}."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.sessions.backends.base import SessionBase

from shop.models import Product

SESSION_KEY = "cart"


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def total(self) -> Decimal:
        return self.product.price * self.quantity


class Cart:
    """A view of the cart in `session`; every change is saved back to it."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session
        # Session data is JSON, so the keys are strings.
        self._items: dict[str, int] = dict(session.get(SESSION_KEY, {}))

    def add(self, product_id: int, quantity: int = 1) -> None:
        self.set(product_id, self._items.get(str(product_id), 0) + quantity)

    def set(self, product_id: int, quantity: int) -> None:
        """Set the quantity of a product; zero removes it."""
        if quantity > 0:
            self._items[str(product_id)] = quantity
        else:
            self._items.pop(str(product_id), None)
        self._save()

    def remove(self, product_id: int) -> None:
        self.set(product_id, 0)

    def clear(self) -> None:
        self._items = {}
        self._save()

    def quantities(self) -> dict[int, int]:
        """{product id: quantity}, what checkout needs."""
        return {int(product_id): quantity for product_id, quantity in self._items.items()}

    def lines(self) -> list[CartLine]:
        """The cart's products that are still for sale, with their quantities."""
        quantities = self.quantities()
        products = Product.objects.filter(pk__in=quantities, active=True)
        return [CartLine(product, quantities[product.pk]) for product in products]

    @property
    def count(self) -> int:
        """How many items, all products together."""
        return sum(self._items.values())

    def _save(self) -> None:
        self.session[SESSION_KEY] = self._items
        self.session.modified = True
