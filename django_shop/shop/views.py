"""Pages: the catalogue, the cart, checkout and the order."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shared.timeline import rows
from shop.cart import Cart
from shop.checkout import CheckoutError, place_order
from shop.forms import AddToCartForm, CartQuantityForm, CheckoutForm
from shop.models import Order, Product

# The numbers of the orders placed in this session: only they may be viewed here.
ORDERS_SESSION_KEY = "orders"


@require_GET
def product_list(request: HttpRequest) -> HttpResponse:
    products = Product.objects.filter(active=True)
    return render(request, "shop/product_list.html", {"products": products})


@require_GET
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug, active=True)
    return render(
        request, "shop/product_detail.html", {"product": product, "form": AddToCartForm()}
    )


@require_POST
def cart_add(request: HttpRequest, product_id: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=product_id, active=True)
    form = AddToCartForm(request.POST)
    if not form.is_valid():
        return render(
            request, "shop/product_detail.html", {"product": product, "form": form}, status=400
        )
    Cart(request.session).add(product.pk, form.cleaned_data["quantity"])
    messages.success(request, f"Added {product.name} to your cart.")
    return redirect("shop:cart")


@require_GET
def cart_detail(request: HttpRequest) -> HttpResponse:
    lines = Cart(request.session).lines()
    total = sum(line.total for line in lines)
    return render(request, "shop/cart.html", {"lines": lines, "total": total})


@require_POST
def cart_update(request: HttpRequest, product_id: int) -> HttpResponse:
    form = CartQuantityForm(request.POST)
    if form.is_valid():
        Cart(request.session).set(product_id, form.cleaned_data["quantity"])
    else:
        messages.error(request, "Enter a quantity from 0 to 99.")
    return redirect("shop:cart")


@require_POST
def cart_remove(request: HttpRequest, product_id: int) -> HttpResponse:
    Cart(request.session).remove(product_id)
    return redirect("shop:cart")


@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    cart = Cart(request.session)
    form = CheckoutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            order = place_order(
                quantities=cart.quantities(),
                customer_name=form.cleaned_data["name"],
                customer_email=form.cleaned_data["email"],
            )
        except CheckoutError as error:
            form.add_error(None, str(error))
        else:
            cart.clear()
            request.session[ORDERS_SESSION_KEY] = [
                *request.session.get(ORDERS_SESSION_KEY, []),
                order.number,
            ]
            return redirect(order)
    lines = cart.lines()
    context = {"form": form, "lines": lines, "total": sum(line.total for line in lines)}
    return render(request, "shop/checkout.html", context, status=400 if form.errors else 200)


def _own_order(request: HttpRequest, number: str) -> Order:
    if number not in request.session.get(ORDERS_SESSION_KEY, []):
        raise Http404("No such order in this session.")
    return get_object_or_404(Order.objects.prefetch_related("lines"), number=number)


@require_GET
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    timeline = rows(order.events.all())
    return render(request, "shop/order_detail.html", {"order": order, "timeline": timeline})


@require_GET
def order_status(request: HttpRequest, number: str) -> JsonResponse:
    """What the order page polls while the confirmation email is pending."""
    order = _own_order(request, number)
    sent_at = order.confirmation_sent_at
    return JsonResponse(
        {"confirmation_sent": sent_at is not None, "sent_at": sent_at and sent_at.isoformat()}
    )
