from typing import Any

from django.conf import settings
from django.http import HttpRequest

from shop.cart import Cart


def shop(request: HttpRequest) -> dict[str, Any]:
    """The cart size for the header and the links to the rest of the stack."""
    return {"cart_count": Cart(request.session).count, "stack_links": settings.SHOP_LINKS}
