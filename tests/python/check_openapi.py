"""Validates real JSON API answers against docs/openapi.yaml with stock validators.

Usage: check_openapi.py SPEC.json EXCHANGES.json

SPEC.json is the OpenAPI document (as JSON); EXCHANGES.json a list of
{"method", "path" (the document's path template, or "*" for a path it does not describe),
"url", "status", "content_type", "body"} recorded by tests/tests/suite/t82_web.rs. The document
must be valid OpenAPI 3.1; every answer must be JSON matching the schema its operation
documents for its status; every operation must have been answered with a 2xx at least once.
Prints one line per problem and exits 1 if there was any.
"""

import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate


def main():
    spec = json.load(open(sys.argv[1]))
    exchanges = json.load(open(sys.argv[2]))
    validate(spec)
    problems = []
    succeeded = set()
    for x in exchanges:
        where = f"{x['method']} {x['url']} -> {x['status']}"
        if not x["content_type"].startswith("application/json"):
            problems.append(f"{where}: content type {x['content_type']!r}, not application/json")
            continue
        try:
            body = json.loads(x["body"])
        except ValueError as e:
            problems.append(f"{where}: not JSON: {e}")
            continue
        if x["path"] == "*":
            schema = {"$ref": "#/components/schemas/Error"}
        else:
            operation = spec["paths"][x["path"]][x["method"].lower()]
            responses = operation["responses"]
            response = responses.get(str(x["status"])) or responses.get("default")
            if response is None:
                problems.append(f"{where}: status not documented for {x['path']}")
                continue
            if "$ref" in response:
                response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
            schema = response["content"]["application/json"]["schema"]
            if 200 <= x["status"] < 300:
                succeeded.add((x["method"].lower(), x["path"]))
        # References resolve against the document's components.
        validator = Draft202012Validator({**schema, "components": spec["components"]})
        for error in validator.iter_errors(body):
            problems.append(f"{where}: {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message[:300]}")
    for path, operations in spec["paths"].items():
        for method in operations:
            if (method, path) not in succeeded:
                problems.append(f"{method.upper()} {path}: never answered with a 2xx in this run")
    for p in problems:
        print(p)
    print(f"{len(exchanges)} answers checked, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
