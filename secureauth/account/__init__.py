"""Account pages: sign-up, sign-in, sessions, security, activity, for people in a browser.

Optional: a host project turns them on with one URL include,
``path("account/", include("secureauth.account.urls"))``. The pages are server-rendered
shells; the browser client (``static/secureauth/client.js``) does every call through the
public HTTP API, so they double as the reference for a front end of one's own. Their
templates and static files live in the ``secureauth`` app (already installed).
"""
