"""One way to refuse a request: JSON for programs under /api/, a page for people elsewhere."""

from django.http import JsonResponse
from django.shortcuts import render


def wants_json(request):
    return request.path.startswith("/api/")


def json_error(status, code, message, headers=None):
    response = JsonResponse({"error": code, "message": str(message)}, status=status)
    response["Cache-Control"] = "no-store"  # a refusal is about one request: never cache it
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def refuse(request, status, code, message, headers=None):
    if wants_json(request):
        return json_error(status, code, message, headers)
    response = render(request, "error.html", {"status": status, "message": message}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response
