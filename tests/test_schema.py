"""The OpenAPI 3 schema documents every endpoint and validates."""

from django.urls import get_resolver
from openapi_spec_validator import validate

from secureauth.api.urls import urlpatterns


def test_schema_is_valid_openapi(api, db):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert schema["openapi"].startswith("3.")


def test_every_endpoint_is_documented(api, db):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    documented = set(schema["paths"])
    routes = [p for p in urlpatterns if p.name != "not-found"]
    assert routes
    for route in routes:
        path = "/auth/" + str(route.pattern).replace("<str:", "{").replace("<", "{").replace(
            ">", "}"
        )
        path = path.replace("{int:", "{").replace("{uuid:", "{")
        assert path in documented, f"{path} missing from the schema"
    assert get_resolver()  # the URLconf loads
