"""Ties each request to a request id that follows it into the tasks it starts."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from shared.request_id import HEADER, bind_request_id, new_request_id


def request_id_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Bind the caller's X-Request-ID (or a new one) for the request, and echo it back.

    Tasks published while it is bound (on-commit callbacks included, since they
    run before the view returns) carry the id in their headers.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        request_id = new_request_id(request.headers.get(HEADER))
        with bind_request_id(request_id):
            response = get_response(request)
        response[HEADER] = request_id
        return response

    return middleware
