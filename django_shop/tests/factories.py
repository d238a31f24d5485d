from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from shop.models import Order, OrderLine, Product


class ProductFactory(DjangoModelFactory[Product]):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.Sequence(lambda n: f"product-{n}")
    description = "A fine product."
    price = Decimal("10.00")
    stock = 10


class OrderFactory(DjangoModelFactory[Order]):
    class Meta:
        model = Order

    customer_name = "Ada Lovelace"
    customer_email = factory.Sequence(lambda n: f"customer{n}@example.com")
    total = Decimal("20.00")


class OrderLineFactory(DjangoModelFactory[OrderLine]):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)
    product_name = factory.SelfAttribute("product.name")
    unit_price = factory.SelfAttribute("product.price")
    quantity = 2
