"""The OpenAPI document: complete enough for Swagger UI's Authorize and for generated clients."""


def test_openapi_declares_bearer_and_header_security_schemes(client):
    spec = client.get("/openapi.json").json
    schemes = spec["components"]["securitySchemes"]
    assert schemes["adminSession"] == {**schemes["adminSession"], "type": "http",
                                       "scheme": "bearer"}
    assert schemes["apiKeyHeader"]["name"] == "x-api-key"
    assert spec["openapi"].startswith("3.")


def test_every_operation_has_a_summary_and_a_documented_answer(client):
    spec = client.get("/openapi.json").json
    operations = [(path, method, op) for path, item in spec["paths"].items()
                  for method, op in item.items() if method != "parameters"]
    assert len(operations) >= 12
    for path, method, operation in operations:
        assert operation.get("summary"), (method, path)
        expected = "3" if operation.get("deprecated") else "2"  # old routes only redirect
        assert any(code.startswith(expected) for code in operation["responses"]), (method, path)


def test_errors_are_documented_in_the_envelope(client):
    spec = client.get("/openapi.json").json
    schemas = spec["components"]["schemas"]
    assert set(schemas["ErrorEnvelope"]["properties"]) == {"success", "error"}
    create = spec["paths"]["/api/keys"]["post"]["responses"]
    name = create["422"]["$ref"].rsplit("/", 1)[1]
    shared = spec["components"]["responses"][name]
    assert shared["content"]["application/json"]["schema"]["$ref"].endswith("ErrorEnvelope")
