"""`POST /composite` in the sandbox: up to 25 subrequests, `@{ref.path}` references, allOrNone.

Each subrequest is executed by the same `SalesforceApi.handle` as a plain request. With
allOrNone=true the first failure rolls the whole request back (one store snapshot) and every
other subrequest answers PROCESSING_HALTED; with allOrNone=false only subrequests that reference
a failed one fail. The top level answers 200 unless the request itself is malformed.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pivot.providers.salesforce.sandbox.api import ApiRequest, ApiResponse, SalesforceApi, error_response
from pivot.providers.salesforce.sandbox.store import SalesforceError

MAX_SUBREQUESTS = 25
MAX_COLLECTION_OR_QUERY = 5
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_]+$")
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_STEP = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")
_API_PATH = re.compile(r"^/services/data/(v\d+\.\d+)/(.+)$")
HALTED = SalesforceError(
    400, "PROCESSING_HALTED",
    "The transaction was rolled back since another operation in the same transaction failed.",
)


class Unresolved(Exception):
    def __init__(self, expression: str, reference: str) -> None:
        super().__init__(expression)
        self.expression = expression
        self.reference = reference

    def response(self) -> ApiResponse:
        return error_response(SalesforceError(
            400, "PROCESSING_HALTED",
            f"Invalid reference specified. No value for {self.expression} found in {self.reference}. Provided "
            f"referenceId ({self.reference}) might not exist or the subrequest it refers to might have failed.",
        ))


def _lookup(bodies: dict[str, Any], match: re.Match[str]) -> Any:
    reference, path = match.group(1), match.group(2)
    expression = reference + path
    if reference not in bodies:
        raise Unresolved(expression, reference)
    value = bodies[reference]
    for step in _STEP.finditer(path):
        name, index = step.group(1), step.group(2)
        if name is not None and isinstance(value, dict) and name in value:
            value = value[name]
        elif index is not None and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            raise Unresolved(expression, reference)
    return value


def resolve(value: Any, bodies: dict[str, Any]) -> Any:
    """Replace references in strings (a whole-string reference keeps the referenced JSON value)."""
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole is not None:
            return _lookup(bodies, whole)
        return _REFERENCE.sub(lambda m: str(_lookup(bodies, m)), value)
    if isinstance(value, dict):
        return {key: resolve(item, bodies) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, bodies) for item in value]
    return value


def _subrequests(body: Any) -> tuple[bool, list[dict[str, Any]]]:
    if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "compositeRequest must be an array of subrequests")
    all_or_none = body.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "allOrNone must be true or false")
    subs = body["compositeRequest"]
    if not 1 <= len(subs) <= MAX_SUBREQUESTS:
        raise SalesforceError(400, "LIMIT_EXCEEDED", f"A composite request takes 1 to {MAX_SUBREQUESTS} "
                              f"subrequests, not {len(subs)}")
    seen: set[str] = set()
    heavy = 0
    for sub in subs:
        if not isinstance(sub, dict) or not isinstance(sub.get("method"), str) or not isinstance(sub.get("url"), str):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "Each subrequest needs method, url and referenceId")
        reference = sub.get("referenceId")
        if not isinstance(reference, str) or not _REFERENCE_ID.match(reference) or reference in seen:
            raise SalesforceError(400, "INVALID_INPUT", f"Invalid or duplicate referenceId: {reference!r}. A "
                                  "referenceId may contain only letters, digits and underscores")
        seen.add(reference)
        path = urlsplit(sub["url"]).path
        heavy += "/composite/sobjects" in path or path.endswith(("/query", "/queryAll"))
    if heavy > MAX_COLLECTION_OR_QUERY:
        raise SalesforceError(400, "LIMIT_EXCEEDED", f"At most {MAX_COLLECTION_OR_QUERY} subrequests may be query "
                              "or sObject Collections operations")
    return all_or_none, subs


class CompositeExecutor:
    def __init__(self, api: SalesforceApi) -> None:
        self.api = api
        api.composite = self.execute

    def _run_one(self, sub: dict[str, Any], bodies: dict[str, Any], tag: dict[str, Any],
                 outer: ApiRequest) -> ApiResponse:
        try:
            url = resolve(sub["url"], bodies)
            body = resolve(sub.get("body"), bodies)
        except Unresolved as unresolved:
            return unresolved.response()
        parts = urlsplit(str(url))
        match = _API_PATH.match(parts.path)
        if match is None:
            return error_response(SalesforceError(404, "NOT_FOUND", "The requested resource does not exist"))
        segments = tuple(unquote(segment) for segment in match.group(2).split("/"))
        if segments[0] == "composite" and len(segments) == 1:
            return error_response(SalesforceError(400, "INVALID_INPUT", "A composite request cannot contain "
                                                  "another composite request"))
        return self.api.handle(ApiRequest(
            method=str(sub["method"]).upper(), version=match.group(1), segments=segments,
            query=dict(parse_qsl(parts.query)), body=body, tag=tag, access=outer.access,
        ))

    def execute(self, request: ApiRequest) -> ApiResponse:
        all_or_none, subs = _subrequests(request.body)
        tag = {"composite_allOrNone": all_or_none}
        snapshot = self.api.store.snapshot() if all_or_none else None
        bodies: dict[str, Any] = {}
        answers: list[ApiResponse] = []
        failed = False
        for sub in subs:
            if failed and all_or_none:
                answers.append(error_response(HALTED))
                continue
            answer = self._run_one(sub, bodies, tag, request)
            answers.append(answer)
            if answer.status >= 300:
                failed = True
            else:
                bodies[sub["referenceId"]] = answer.body
        if snapshot is not None and failed:
            self.api.store.restore(snapshot)
            answers = [answer if answer.status >= 300 else error_response(HALTED) for answer in answers]
        return ApiResponse(200, {"compositeResponse": [
            {"body": answer.body, "httpHeaders": answer.headers, "httpStatusCode": answer.status,
             "referenceId": sub["referenceId"]}
            for sub, answer in zip(subs, answers, strict=True)
        ]})
