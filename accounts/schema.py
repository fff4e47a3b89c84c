"""OpenAPI descriptions of our authentication classes (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api_auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A team API key: `Authorization: Bearer scdp_…` (create one in Settings or with "
            "`manage.py create_api_key`).",
        }


class TeamSessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api_auth.TeamSessionAuthentication"
    name = "ConsoleSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
