import { client, requireUser, showContent } from "../session.js";
import { announce, byId, el, onClick, timeElement } from "../ui.js";

const PAGE_SIZE = 20;

/** Each audit event in plain words. */
const WORDS = {
  register: "Account created",
  login_succeeded: "Signed in",
  login_failed: "Failed sign-in attempt (wrong password)",
  login_rate_limited: "Sign-ins paused after too many failed attempts",
  mfa_succeeded: "Two-step verification passed",
  mfa_failed: "Wrong two-step verification code",
  refresh_token_reused: "A stolen session token was used: that session was signed out",
  logout: "Signed out",
  logout_all: "Signed out everywhere",
  session_revoked: "A session was signed out",
  password_changed: "Password changed",
  password_reset_requested: "Password reset link requested",
  password_reset_completed: "Password reset with an emailed link",
  email_verified: "Email address verified",
  mfa_enabled: "Authenticator app turned on",
  mfa_disabled: "Authenticator app turned off",
  recovery_codes_regenerated: "New recovery codes created",
  passkey_added: "Passkey added",
  passkey_removed: "Passkey removed",
  passkey_login: "Signed in with a passkey",
  passkey_clone_detected: "A passkey that may have been copied was used",
  roles_changed: "Roles changed",
  social_login: "Signed in with a linked account",
  social_linked: "Account linked",
  social_unlinked: "Linked account removed",
  reauthenticated: "Identity confirmed for a sensitive change",
  magic_link_requested: "Email sign-in link requested",
  magic_link_used: "Signed in with an email link",
  session_reported: "A sign-in was reported as not you: that session was signed out",
  new_device_sign_in: "Signed in from a new device",
};

/** How a sign-in (or a failed one) was made, from the event's `method` detail. */
const METHODS = {
  passkey: "with a passkey",
  social: "with a linked account",
  magic_link: "with an email link",
  totp: "with the authenticator app",
  recovery_code: "with a recovery code",
};

export function eventWords(entry) {
  let words = WORDS[entry.event] || entry.event.replace(/_/g, " ").replace(/^./, (first) => first.toUpperCase());
  const method = entry.detail && METHODS[entry.detail.method];
  if (method && entry.event === "login_succeeded") words = `Signed in ${method}`;
  else if (method && entry.event === "login_failed") words = `Failed sign-in attempt ${method}`;
  else if (method && entry.event === "mfa_succeeded") words = `Two-step verification passed ${method}`;
  return entry.detail && entry.detail.by_administrator ? `${words} (by an administrator)` : words;
}

function shortAgent(agent) {
  return agent.length > 70 ? `${agent.slice(0, 69)}…` : agent;
}

function eventItem(entry) {
  const where = [entry.ip ? `IP ${entry.ip}` : null, entry.user_agent ? shortAgent(entry.user_agent) : null].filter(Boolean).join(" · ");
  return el(
    "li",
    { className: "event" },
    el("span", { className: "event-what" }, eventWords(entry)),
    el("span", { className: "event-when" }, timeElement(entry.created_at)),
    where ? el("span", { className: "event-where", title: entry.user_agent || null }, where) : null,
  );
}

let page = 1;

async function render() {
  const answer = await client.audit({ page, pageSize: PAGE_SIZE });
  const pages = Math.max(1, Math.ceil(answer.count / PAGE_SIZE));
  byId("event-list").replaceChildren(...answer.results.map(eventItem));
  if (!answer.results.length) byId("event-list").append(el("li", { className: "event" }, "No events yet."));
  byId("page-info").textContent = `Page ${page} of ${pages}`;
  byId("newer").disabled = !answer.previous;
  byId("older").disabled = !answer.next;
}

await requireUser();
try {
  await render();
} catch (error) {
  announce(error.detail || "The events could not be loaded.", "error");
}
showContent();
onClick(byId("newer"), async () => { page -= 1; await render(); });
onClick(byId("older"), async () => { page += 1; await render(); });
