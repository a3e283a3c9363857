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


class Bare(APIView):
    """Baseline: no authentication. GET answers at once; POST parses the JSON body."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"id": None})

    def post(self, request):
        return Response({"received": sorted(request.data)})
