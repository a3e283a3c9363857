"""The trivial views every implementation is measured on."""

from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from secureauth.authentication import AccessTokenAuthentication


class WhoAmI(APIView):
    """GET: the caller's user id. The same view for each authentication class
    (subclasses only set ``authentication_classes``)."""

    authentication_classes: list = []
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"id": str(request.user.pk)})


class SecureAuthWhoAmI(WhoAmI):
    authentication_classes = [AccessTokenAuthentication]


class SimpleJWTWhoAmI(WhoAmI):
    authentication_classes = [JWTAuthentication]


class SimpleJWTMe(APIView):
    """simplejwt's equivalent of SecureAuth's ``GET me/``: the contract's user object
    (id, email, roles, email_verified, mfa_enabled, date_joined) for the caller, as a
    simplejwt project would build it: roles from the groups, MFA from django-otp."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        from django_otp import user_has_device

        user = request.user
        return Response(
            {
                "id": str(user.pk),
                "email": user.email,
                "roles": sorted(user.groups.values_list("name", flat=True)),
                "email_verified": False,
                "mfa_enabled": user_has_device(user),
                "date_joined": user.date_joined.isoformat(),
            }
        )


class Bare(APIView):
    """Baseline: no authentication. GET answers at once; POST parses the JSON body."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"id": None})

    def post(self, request):
        return Response({"received": sorted(request.data)})
