"""Salesforce REST (API v60.0): the client and actions Pivot uses, and a local sandbox speaking its wire format.

Salesforce has no idempotency header on `/sobjects`, `/composite` or sObject Collections, so the
step key travels on the record itself, in an external-id field (`Pivot_Key__c` by default), and
every create is an upsert by that external id: a replay updates the record it already made
instead of making a second one.

`client` (REST calls and Salesforce's errors), `account` (`pivot setup` / `pivot doctor`),
`actions/` (the catalog, one module per resource), `sandbox/` (the test instrument), and the
helpers the actions share: `params` (bounded names and values), `values` (comparing Salesforce's
canonical forms), `records` (refs, sentences, read-back checks).
"""
