//! `GET /v1/openapi.json`: the API described in OpenAPI 3.1, written by hand.

use serde_json::{Value, json};

fn err_ref() -> Value {
    json!({ "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok_ref(schema: &str) -> Value {
    json!({ "description": "OK", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn list_of(schema: &str) -> Value {
    json!({ "description": "A page, newest first", "content": { "application/json": { "schema": {
        "type": "object", "required": ["object", "data", "has_more", "url"],
        "properties": {
            "object": { "const": "list" },
            "url": { "type": "string" },
            "has_more": { "type": "boolean" },
            "data": { "type": "array", "items": { "$ref": format!("#/components/schemas/{schema}") } }
        } } } } })
}

fn errors() -> Value {
    json!({ "400": err_ref(), "401": err_ref(), "404": err_ref(), "409": err_ref() })
}

fn responses(ok: Value) -> Value {
    let mut r = errors();
    r["200"] = ok;
    r
}

fn id_param(what: &str) -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" }, "description": format!("The {what}'s id") })
}

fn idem() -> Value {
    json!({ "$ref": "#/components/parameters/IdempotencyKey" })
}

fn paging() -> Vec<Value> {
    vec![
        json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 10 } }),
        json!({ "name": "starting_after", "in": "query", "schema": { "type": "string" }, "description": "The last id of the previous page" }),
    ]
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// The document.
pub fn document() -> Value {
    let statuses = json!([
        "requires_input",
        "processing",
        "requires_review",
        "verified",
        "rejected",
        "canceled",
        "expired"
    ]);
    let mut list_sessions_params = paging();
    list_sessions_params.push(json!({ "name": "status", "in": "query", "schema": { "type": "string", "enum": statuses } }));
    list_sessions_params
        .push(json!({ "name": "batch", "in": "query", "schema": { "type": "string" } }));
    let mut list_events_params = paging();
    list_events_params.push(json!({ "name": "type", "in": "query", "schema": { "type": "string", "enum": doublecheck_store::EVENT_TYPES } }));
    list_events_params.push(
        json!({ "name": "verification_session", "in": "query", "schema": { "type": "string" } }),
    );
    let action = |summary: &str, body: Option<Value>| {
        let mut op = json!({
            "summary": summary,
            "parameters": [id_param("verification session"), idem()],
            "responses": responses(ok_ref("VerificationSession")),
        });
        if let Some(b) = body {
            op["requestBody"] = json_body(b);
        }
        json!({ "post": op })
    };
    let row_error = json!({ "type": "object", "properties": {
        "row": { "type": "integer" }, "param": { "type": "string" },
        "code": { "type": "string" }, "message": { "type": "string" } } });
    let batch_report = json!({ "type": "object", "properties": {
        "rows": { "type": "integer" }, "created": { "type": "integer" },
        "invalid": { "type": "integer" },
        "errors": { "type": "array", "items": row_error } } });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "doublecheck verification portal API",
            "version": "1",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
            "description": "Collect customers' details and documents through a secure page instead of email. Conventions follow Stripe's: Bearer API keys (dk_test_… / dk_live_…), JSON errors {error: {type, code, message, param}}, Idempotency-Key on POST, cursor pagination, ids with prefixes, created in unix seconds. Webhooks are signed by the Standard Webhooks scheme (webhook-id, webhook-timestamp, webhook-signature)."
        },
        "security": [{ "apiKey": [] }],
        "paths": {
            "/v1/verification_sessions": {
                "post": {
                    "summary": "Create a verification session (status requires_input)",
                    "parameters": [idem()],
                    "requestBody": json_body(json!({ "$ref": "#/components/schemas/VerificationSessionCreate" })),
                    "responses": responses(ok_ref("VerificationSession")),
                },
                "get": {
                    "summary": "List verification sessions",
                    "parameters": list_sessions_params,
                    "responses": responses(list_of("VerificationSession")),
                }
            },
            "/v1/verification_sessions/{id}": {
                "get": {
                    "summary": "Retrieve a verification session",
                    "parameters": [id_param("verification session")],
                    "responses": responses(ok_ref("VerificationSession")),
                }
            },
            "/v1/verification_sessions/{id}/cancel": action("Cancel a session waiting for input or review", None),
            "/v1/verification_sessions/{id}/redact": action("Erase the personal data and documents; keep the status and times. A session waiting for input or review is canceled first; one in processing cannot be redacted.", None),
            "/v1/verification_sessions/{id}/review": {
                "post": {
                    "summary": "Decide on a session in requires_review (API key, or a signed-in reviewer with X-CSRF-Token)",
                    "parameters": [id_param("verification session"), idem()],
                    "requestBody": json_body(json!({
                        "type": "object", "required": ["decision"], "additionalProperties": false,
                        "properties": {
                            "decision": { "type": "string", "enum": ["approve", "reject"] },
                            "reason": { "type": "string", "maxLength": 1000, "description": "Required to reject" }
                        }
                    })),
                    "responses": responses(ok_ref("VerificationSession")),
                }
            },
            "/v1/verification_sessions/{id}/links": {
                "post": {
                    "summary": "Make a fresh single-use link for the customer (shown once; older links stop working; never replayed from an Idempotency-Key)",
                    "parameters": [id_param("verification session")],
                    "responses": responses(ok_ref("VerificationLink")),
                }
            },
            "/v1/verification_batches": {
                "post": {
                    "summary": "Create one session per customer and send each their own message with their own link",
                    "parameters": [
                        idem(),
                        { "name": "type", "in": "query", "description": "CSV only", "schema": { "type": "string", "enum": ["address", "document", "address_and_document"] } },
                        { "name": "expires_in", "in": "query", "description": "CSV only", "schema": { "type": "integer" } },
                        { "name": "skip_invalid_rows", "in": "query", "description": "CSV only: create the valid rows and report the invalid ones (default false: one invalid row fails the batch)", "schema": { "type": "boolean" } }
                    ],
                    "requestBody": {
                        "required": true,
                        "content": {
                            "text/csv": { "schema": { "type": "string", "description": "A header row with email (required), phone, name, reference, postcode, birth_date, account_last4; up to 10,000 rows and 5 MB" } },
                            "application/json": { "schema": { "$ref": "#/components/schemas/VerificationBatchCreate" } }
                        }
                    },
                    "responses": responses(ok_ref("VerificationBatch")),
                }
            },
            "/v1/events": {
                "get": { "summary": "List events", "parameters": list_events_params, "responses": responses(list_of("Event")) }
            },
            "/v1/events/{id}": {
                "get": { "summary": "Retrieve an event", "parameters": [id_param("event")], "responses": responses(ok_ref("Event")) }
            },
            "/v1/webhook_endpoints": {
                "post": {
                    "summary": "Create a webhook endpoint (its secret is returned once)",
                    "parameters": [idem()],
                    "requestBody": json_body(json!({
                        "type": "object", "required": ["url", "enabled_events"], "additionalProperties": false,
                        "properties": {
                            "url": { "type": "string", "format": "uri" },
                            "enabled_events": { "type": "array", "items": { "type": "string" }, "description": "Event types, or [\"*\"]" },
                            "description": { "type": "string" }
                        }
                    })),
                    "responses": responses(ok_ref("WebhookEndpoint")),
                },
                "get": { "summary": "List webhook endpoints", "parameters": paging(), "responses": responses(list_of("WebhookEndpoint")) }
            },
            "/v1/webhook_endpoints/{id}": {
                "get": { "summary": "Retrieve a webhook endpoint", "parameters": [id_param("webhook endpoint")], "responses": responses(ok_ref("WebhookEndpoint")) },
                "delete": { "summary": "Disable a webhook endpoint", "parameters": [id_param("webhook endpoint")], "responses": responses(json!({ "description": "Deleted" })) }
            },
            "/v1/webhook_endpoints/{id}/deliveries": {
                "get": { "summary": "The delivery log of an endpoint", "parameters": [id_param("webhook endpoint")], "responses": responses(list_of("WebhookDelivery")) }
            },
            "/v1/openapi.json": {
                "get": { "summary": "This document", "security": [], "responses": { "200": { "description": "OpenAPI 3.1" } } }
            }
        },
        "components": {
            "securitySchemes": { "apiKey": { "type": "http", "scheme": "bearer", "description": "dk_test_… or dk_live_…" } },
            "parameters": {
                "IdempotencyKey": { "name": "Idempotency-Key", "in": "header", "schema": { "type": "string", "maxLength": 255 },
                    "description": "The same key with the same request returns the first response (Idempotent-Replayed: true); with another request, 400 idempotency_error. Kept 24 hours." }
            },
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": { "error": { "type": "object", "required": ["type", "code", "message"], "properties": {
                        "type": { "type": "string", "enum": ["invalid_request_error", "authentication_error", "idempotency_error", "api_error"] },
                        "code": { "type": "string" }, "message": { "type": "string" }, "param": { "type": "string" },
                        "errors": { "type": "array", "items": { "type": "object" }, "description": "A batch's per-row errors: row, param, code, message" }
                    } } }
                },
                "Customer": {
                    "type": "object", "additionalProperties": false, "required": ["email"],
                    "properties": {
                        "email": { "type": "string", "format": "email" },
                        "phone": { "type": "string", "description": "International form, +34600000000" },
                        "name": { "type": "string", "maxLength": 256 },
                        "reference": { "type": "string", "maxLength": 256 }
                    }
                },
                "Known": {
                    "type": "object", "additionalProperties": false,
                    "description": "Values the customer can be asked for; stored only as keyed hashes",
                    "properties": {
                        "postcode": { "type": "string" },
                        "birth_date": { "type": "string", "format": "date" },
                        "account_last4": { "type": "string", "pattern": "^[0-9]{4}$" }
                    }
                },
                "VerificationSessionCreate": {
                    "type": "object", "required": ["type", "customer"], "additionalProperties": false,
                    "properties": {
                        "type": { "type": "string", "enum": ["address", "document", "address_and_document"] },
                        "customer": { "$ref": "#/components/schemas/Customer" },
                        "known": { "$ref": "#/components/schemas/Known" },
                        "expires_in": { "type": "integer", "minimum": 60, "maximum": 7776000 },
                        "return_url": { "type": "string", "format": "uri" },
                        "metadata": { "type": "object", "maxProperties": 50, "additionalProperties": { "type": "string", "maxLength": 500 } },
                        "send": { "type": "boolean", "description": "Queue a message with a link to the customer now" }
                    }
                },
                "VerificationSession": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string", "pattern": "^vs_" },
                        "object": { "const": "verification_session" },
                        "livemode": { "type": "boolean" },
                        "type": { "type": "string" },
                        "status": { "type": "string", "enum": statuses },
                        "created": { "type": "integer" }, "updated": { "type": "integer" }, "expires_at": { "type": "integer" },
                        "customer": { "$ref": "#/components/schemas/Customer" },
                        "known_fields": { "type": "array", "items": { "type": "string" } },
                        "address": { "type": ["object", "null"] },
                        "return_url": { "type": ["string", "null"] },
                        "metadata": { "type": "object" },
                        "batch": { "type": ["string", "null"] },
                        "last_error": { "type": ["object", "null"] },
                        "review": { "type": ["object", "null"] },
                        "redaction": { "type": ["object", "null"] }
                    }
                },
                "VerificationLink": {
                    "type": "object",
                    "properties": {
                        "object": { "const": "verification_link" },
                        "verification_session": { "type": "string" },
                        "url": { "type": "string", "description": "/verify/{token}: single use" },
                        "created": { "type": "integer" }, "expires_at": { "type": "integer" }
                    }
                },
                "VerificationBatchCreate": {
                    "type": "object", "required": ["type", "rows"], "additionalProperties": false,
                    "properties": {
                        "type": { "type": "string", "enum": ["address", "document", "address_and_document"] },
                        "expires_in": { "type": "integer" },
                        "return_url": { "type": "string" },
                        "metadata": { "type": "object" },
                        "skip_invalid_rows": { "type": "boolean", "description": "Create the valid rows and report the invalid ones (default false: one invalid row fails the batch)" },
                        "message": { "type": "object", "properties": { "subject": { "type": "string" }, "body": { "type": "string", "description": "Must contain {{verify_link}}; {{name}} is the customer's name" } } },
                        "rows": { "type": "array", "maxItems": 10000, "items": { "type": "object", "required": ["customer"], "properties": {
                            "customer": { "$ref": "#/components/schemas/Customer" }, "known": { "$ref": "#/components/schemas/Known" }, "metadata": { "type": "object" } } } }
                    }
                },
                "VerificationBatch": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string", "pattern": "^vb_" }, "object": { "const": "verification_batch" },
                        "livemode": { "type": "boolean" }, "created": { "type": "integer" }, "count": { "type": "integer" },
                        "verification_sessions": { "type": "array", "items": { "type": "string" } },
                        "messages_queued": { "type": "integer" },
                        "report": batch_report
                    }
                },
                "Event": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string", "pattern": "^evt_" }, "object": { "const": "event" },
                        "type": { "type": "string", "enum": doublecheck_store::EVENT_TYPES },
                        "livemode": { "type": "boolean" }, "created": { "type": "integer" },
                        "data": { "type": "object", "properties": { "object": { "$ref": "#/components/schemas/VerificationSession" } } }
                    }
                },
                "WebhookEndpoint": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string", "pattern": "^we_" }, "object": { "const": "webhook_endpoint" },
                        "livemode": { "type": "boolean" }, "url": { "type": "string" },
                        "enabled_events": { "type": "array", "items": { "type": "string" } },
                        "description": { "type": ["string", "null"] }, "status": { "type": "string", "enum": ["enabled", "disabled"] },
                        "created": { "type": "integer" },
                        "secret": { "type": "string", "description": "whsec_…; only in the response to its creation" }
                    }
                },
                "WebhookDelivery": {
                    "type": "object",
                    "properties": {
                        "object": { "const": "webhook_delivery" }, "event": { "type": "string" }, "webhook_endpoint": { "type": "string" },
                        "status": { "type": "string", "enum": ["pending", "delivered", "failed"] },
                        "attempts": { "type": "integer" }, "next_attempt": { "type": ["integer", "null"] },
                        "last_attempt": { "type": ["integer", "null"] }, "last_status_code": { "type": ["integer", "null"] },
                        "last_error": { "type": ["string", "null"] }
                    }
                }
            }
        }
    })
}
