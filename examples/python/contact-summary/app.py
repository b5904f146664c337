"""Contact Summary: reads one Intercom contact and returns a short summary of it.

Written in Python to show that the WIT contract, not Rust, is the interface: componentize-py
generates `wit_world` from the repository's wit/ directory and turns this module into a component
that exports `switchyard:connector/action-handler` and imports the host's http, log and clock.
"""

import json
import urllib.parse

from wit_world import exports
from componentize_py_types import Err
from wit_world.imports import http, log, types

KEY = "polyglot/contact-summary"
VERSION = "0.1.0"

INPUT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Summarise a contact",
    "type": "object",
    "properties": {
        "contact_id": {
            "type": "string",
            "title": "Contact ID",
            "description": "The contact's Intercom id.",
        }
    },
    "required": ["contact_id"],
    "additionalProperties": False,
}

SAMPLE_OUTPUT = {
    "id": "6657add46abd0167d9419cd2",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "email_domain": "example.com",
    "role": "user",
    "custom_attribute_count": 2,
}


def invalid(field, message):
    return Err(types.Error_InvalidInput(types.FieldError(field=field, message=message)))


class ActionHandler(exports.ActionHandler):
    def describe(self) -> types.Description:
        return types.Description(
            key=KEY,
            name="Contact Summary (Python)",
            version=VERSION,
            kind=types.ComponentKind.ACTION,
            summary="Reads one contact and returns its name, email, email domain, role and how many "
            "custom attributes it has. Changes nothing.",
            input_schema=json.dumps(INPUT_SCHEMA),
            sample_output=json.dumps(SAMPLE_OUTPUT),
        )

    def run(self, input: str) -> str:
        try:
            data = json.loads(input)
        except ValueError as e:
            raise invalid("", f"the input is not JSON: {e}")
        contact_id = str(data.get("contact_id", "")).strip()
        if not contact_id:
            raise invalid("contact_id", "give the contact's Intercom id")

        # Percent-encode the id: it is one path segment, whatever it contains.
        path = "/contacts/" + urllib.parse.quote(contact_id, safe="")
        response = http.send(
            http.Request(method=http.Method.GET, path=path, query=[], headers=[], body=None)
        )
        if response.status == 404:
            raise Err(types.Error_NotFound(f"no contact has the id {contact_id}"))
        if response.status in (401, 403):
            kind = types.Error_Unauthorized if response.status == 401 else types.Error_Forbidden
            raise Err(kind(f"Intercom answered {response.status} for {path}"))
        if response.status >= 300:
            raise Err(
                types.Error_Upstream(
                    types.UpstreamError(
                        status=response.status, code="http_error", message=response.body[:500]
                    )
                )
            )
        contact = json.loads(response.body)
        email = contact.get("email") or ""
        log.log(log.Level.DEBUG, f"summarised contact {contact_id}")
        return json.dumps(
            {
                "id": contact.get("id"),
                "name": contact.get("name"),
                "email": email or None,
                "email_domain": email.rsplit("@", 1)[1] if "@" in email else None,
                "role": contact.get("role"),
                "custom_attribute_count": len(contact.get("custom_attributes") or {}),
            }
        )
