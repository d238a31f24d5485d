"""The catalogue (Product), what customers bought (Order, OrderLine), and the life of each
order's confirmation task (OrderEvent)."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from shared.timeline import Kind

# No 0/O or 1/I: customers read order numbers out over the phone.
_NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_order_number() -> str:
    """A random, unguessable order number such as `SO-7K2M9QXA`."""
    return "SO-" + "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(8))


class Product(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    stock = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True, help_text="Only active products are for sale.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("shop:product_detail", kwargs={"slug": self.slug})


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(max_length=16, unique=True, default=new_order_number, editable=False)
    customer_name = models.CharField(max_length=120)
    customer_email = models.EmailField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLACED)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    # Set by the confirmation task once SMTP has accepted the email: NULL means
    # "not sent yet", and it is what makes the task idempotent.
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    # The lease of the run that is sending the confirmation right now (see
    # shop/tasks.py): no other run sends until it expires.
    confirmation_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # The sweep looks only at the few orders whose email is still pending.
            models.Index(
                fields=["created"],
                condition=Q(confirmation_sent_at__isnull=True),
                name="order_confirmation_pending",
            )
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("shop:order_detail", kwargs={"number": self.number})


class OrderLine(models.Model):
    order = models.ForeignKey(Order, related_name="lines", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="order_lines", on_delete=models.PROTECT)
    # Name and price as they were when the order was placed.
    product_name = models.CharField(max_length=120)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_name}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


DETAIL_LENGTH = 500


class OrderEvent(models.Model):
    """One step in the life of an order's confirmation task: the timeline on its page.

    Written by shop/timeline.py from Celery's signals, each in its own short
    transaction (the shop's connections autocommit), so a task that fails keeps
    what happened before it failed.
    """

    order = models.ForeignKey(Order, related_name="events", on_delete=models.CASCADE)
    kind = models.CharField(max_length=16, choices=[(kind.value, kind.value) for kind in Kind])
    at = models.DateTimeField()
    task_id = models.CharField(max_length=64, blank=True)
    task_name = models.CharField(max_length=200, blank=True)
    detail = models.CharField(max_length=DETAIL_LENGTH, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["order", "at"], name="order_event_by_order")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} at {self.at:%H:%M:%S.%f}"
