from typing import Any

from django.contrib import admin

from shop.models import Order, OrderEvent, OrderLine, Product

# The admin classes are generic in django-stubs only: Django's own cannot be
# subscripted at run time (without django_stubs_ext), hence the ignores below.


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "price", "stock", "active"]
    list_editable = ["stock", "active"]
    list_filter = ["active"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}


class OrderLineInline(admin.TabularInline):  # type: ignore[type-arg]
    model = OrderLine
    readonly_fields = ["product", "product_name", "unit_price", "quantity"]
    extra = 0
    can_delete = False


class OrderEventInline(admin.TabularInline):  # type: ignore[type-arg]
    """The confirmation task's timeline, as the order page shows it."""

    model = OrderEvent
    fields = ("at", "kind", "detail", "task_id")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "number",
        "customer_name",
        "customer_email",
        "status",
        "total",
        "created",
        "confirmation_sent_at",
    ]
    # "Confirmation sent: empty" lists the orders whose email is still pending.
    list_filter = ["status", ("confirmation_sent_at", admin.EmptyFieldListFilter), "created"]
    search_fields = ["number", "customer_name", "customer_email"]
    readonly_fields = ["number", "total", "created", "confirmation_sent_at"]
    date_hierarchy = "created"
    inlines = [OrderLineInline, OrderEventInline]


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["order", "product_name", "unit_price", "quantity"]
    list_filter = ["product"]
    search_fields = ["order__number", "product_name"]
    list_select_related = ["order"]
    readonly_fields = ["order", "product", "product_name", "unit_price", "quantity"]
