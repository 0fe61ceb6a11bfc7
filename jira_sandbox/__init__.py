"""A stand-in Jira site (Cloud v3 / Server-DC v2 flavours) for the demo, tests and benchmarks.

Start one in-process:

    from jira_sandbox.testing import SandboxServer
    with SandboxServer(flavour="cloud", issues=1000, seed=1) as site:
        requests.get(site.base_url + "/rest/api/3/myself", auth=(site.email, site.api_token))

or as a process: `python -m jira_sandbox --port 0 --flavour server --issues 100000 --seed 1`,
which prints one JSON line (base_url, email, api_token, pat, admin_token, ...) and serves.

Modules: `state` (site data, mutations, IssueEvent listeners), `render` (Jira's JSON),
`auth` (Basic / PAT, pluggable authenticators), `app` (create_app), `api_*` (REST views),
`search` (JQL glue + paging cache), `faults` (latency, 429, 5xx, scripted failures, stats),
`control` (/_sandbox/ endpoints, admin-token protected), `seed` (deterministic data),
`persist` (--state-file), `testing` (SandboxServer), `cli`.
It never imports `connect_app`.
"""
