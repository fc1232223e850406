"""Views of every shape behind ``jwt_guard.django``, and their URLconf."""

from __future__ import annotations

import asyncio
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django.views import View
from rest_framework.response import Response
from rest_framework.views import APIView

from jwt_guard import wsgi
from jwt_guard.django import get_access_token, require_access_token, require_any_scope, require_auth, require_scopes
from jwt_guard.django.rest_framework import HasScopes, HasUserAuthentication, JWTAuthentication

#: A verifier named by dotted path in some tests (set by them).
VERIFIER: Any = None
#: The authentication context class the step-up views demand.
MFA = "urn:example:mfa"


def seen(request: Any) -> dict[str, Any]:
    """What a view saw of authentication."""
    token = get_access_token(request)
    attribute = getattr(request, "access_token", "unset")
    return {
        "sub": token.subject if token is not None else None,
        "scopes": sorted(token.scopes) if token is not None else None,
        "access_token": attribute if attribute in ("unset", None) else attribute.subject,
    }


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse(seen(request))


@require_scopes("read")
def function_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(seen(request))


@require_scopes("read")
async def async_function_view(request: HttpRequest) -> JsonResponse:
    await asyncio.sleep(0)
    return JsonResponse(seen(request))


@require_any_scope("read", "admin")
def any_scope_view(request, item: int):
    return JsonResponse({"item": item, **seen(request)})


class DirectMethod(View):
    @require_scopes("read")
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(seen(request))


class AsyncDirectMethod(View):
    @require_scopes("read")
    async def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(seen(request))


@method_decorator(require_scopes("read"), name="get")
class MethodDecorated(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(seen(request))

    def post(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"posted": True})


@method_decorator(require_scopes("read"), name="get")
class AsyncMethodDecorated(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(seen(request))


@method_decorator(wsgi.require_scopes("read"), name="get")
class WsgiMethodDecorated(View):
    """The WSGI adapter's decorator through method_decorator (it answered 500)."""

    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(seen(request))


class Plain(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(seen(request))


def needs_token(request: HttpRequest) -> JsonResponse:
    token = require_access_token(request)
    return JsonResponse({"sub": token.subject})


async def async_needs_token(request: HttpRequest) -> JsonResponse:
    token = require_access_token(request)
    return JsonResponse({"sub": token.subject})


def admin(request: HttpRequest) -> HttpResponse:
    return HttpResponse("admin login page")


class Items(APIView):
    required_scopes = ["read:items"]

    def get(self, request: Any) -> Response:
        return Response(
            {
                "user": str(request.user),
                "authenticated": request.user.is_authenticated,
                "auth_sub": request.auth.subject,
                "token_sub": require_access_token(request).subject,
            }
        )


class AnyToken(APIView):
    def get(self, request: Any) -> Response:
        return Response({"sub": request.auth.subject})


class ExplicitClasses(APIView):
    """Classes named on the view instead of in settings."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [HasScopes]
    required_scopes = ["admin"]

    def get(self, request: Any) -> Response:
        return Response({"sub": request.auth.subject})


class DecoratedAPIView(APIView):
    permission_classes: list[Any] = []

    @require_scopes("read")
    def get(self, request: Any) -> Response:
        return Response(seen(request))


# -- step-up (RFC 9470): one view of every shape, each demanding MFA within 300 s and "pay"


@require_auth(scopes=["pay"], acr_values=[MFA, "hwk"], max_age=300)
def step_up_function(request: HttpRequest) -> JsonResponse:
    return JsonResponse(seen(request))


@require_auth(scopes=["pay"], acr_values=[MFA, "hwk"], max_age=300)
async def async_step_up_function(request: HttpRequest) -> JsonResponse:
    await asyncio.sleep(0)
    return JsonResponse(seen(request))


class StepUpMethod(View):
    @require_auth(scopes=["pay"], acr_values=[MFA, "hwk"], max_age=300)
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(seen(request))


@method_decorator(require_auth(scopes=["pay"], acr_values=[MFA, "hwk"], max_age=300), name="get")
class StepUpMethodDecorated(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(seen(request))


@method_decorator(require_auth(scopes=["pay"], acr_values=[MFA, "hwk"], max_age=300), name="get")
class AsyncStepUpMethodDecorated(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(seen(request))


class StepUpAPIView(APIView):
    permission_classes: list[Any] = []

    @require_auth(scopes=["pay"], acr_values=[MFA, "hwk"], max_age=300)
    def get(self, request: Any) -> Response:
        return Response(seen(request))


class StepUpAPI(APIView):
    """REST framework's permission classes: scopes, then the user authentication."""

    permission_classes = [HasScopes, HasUserAuthentication]
    required_scopes = ["pay"]
    required_acr_values = [MFA, "hwk"]
    required_max_age = 300

    def get(self, request: Any) -> Response:
        return Response({"sub": request.auth.subject})


@require_scopes("pay")
@require_auth(max_age=60)
def stacked(request: HttpRequest) -> JsonResponse:
    return JsonResponse(seen(request))


urlpatterns = [
    path("whoami", whoami),
    path("function", function_view),
    path("async-function", async_function_view),
    path("items/<int:item>", any_scope_view),
    path("direct", DirectMethod.as_view()),
    path("async-direct", AsyncDirectMethod.as_view()),
    path("method-decorator", MethodDecorated.as_view()),
    path("async-method-decorator", AsyncMethodDecorated.as_view()),
    path("wsgi-method-decorator", WsgiMethodDecorated.as_view()),
    path("as-view", require_any_scope("read", "admin")(Plain.as_view())),
    path("needs-token", needs_token),
    path("async-needs-token", async_needs_token),
    path("admin/", admin),
    path("admin/login/", admin),
    path("health", whoami),
    path("api/items", Items.as_view()),
    path("api/any", AnyToken.as_view()),
    path("api/explicit", ExplicitClasses.as_view()),
    path("api/decorated", DecoratedAPIView.as_view()),
    path("step-up/function", step_up_function),
    path("step-up/async-function", async_step_up_function),
    path("step-up/method", StepUpMethod.as_view()),
    path("step-up/method-decorator", StepUpMethodDecorated.as_view()),
    path("step-up/async-method-decorator", AsyncStepUpMethodDecorated.as_view()),
    path("step-up/rest-framework", StepUpAPIView.as_view()),
    path("step-up/stacked", stacked),
    path("api/step-up", StepUpAPI.as_view()),
]
