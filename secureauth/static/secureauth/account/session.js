/**
 * The one client of the account pages, and what every page does about signing in:
 * signed-in pages restore the session from the refresh cookie or send the visitor to
 * the sign-in page; a session that ends meanwhile (revoked from another device, signed
 * out in another tab) sends every open page back to sign in.
 */

import { SecureAuthClient } from "../client.js";
import { announce, byId, show } from "./ui.js";

const { api, account } = document.body.dataset;

const ENDED = new Set(["session_revoked", "token_reused", "token_expired", "token_invalid"]);

// DPoP: the session is bound to a key of this browser that no script can read out.
export const client = new SecureAuthClient({ baseUrl: api, dpop: true });

/** The URL of an account page ("sign-in", "security", ...) with query parameters. */
export function pageUrl(name, params = {}) {
  const url = new URL(name === "sign-in" ? account : account + name, location.origin);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.pathname + url.search;
}

/** Where to go after signing in: the `next` page if it is an account page, else security. */
export function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  const safe = next.startsWith(account) && !next.startsWith("//") && !next.includes("\\");
  return safe ? next : pageUrl("security");
}

function toSignIn(reason) {
  const params = { next: location.pathname };
  if (reason) params.reason = reason;
  location.replace(pageUrl("sign-in", params));
}

/** For signed-in pages: the user, once the session is restored (else off to sign in). */
export async function requireUser() {
  let user;
  try {
    user = await client.restore();
  } catch (error) {
    // Not a missing or ended session (those go to sign in): the server is unreachable
    // or failing. Say so, and let the visitor try again.
    show(byId("loading"), false);
    announce(`${error.detail || "The server did not answer."} Reload the page to try again.`, "error");
    return new Promise(() => {});
  }
  if (!user) {
    // A refresh cookie whose session ended (revoked from another device, expired) is
    // told apart from a visitor who never signed in.
    toSignIn(ENDED.has(client.endReason) ? "session-ended" : "");
    return new Promise(() => {});
  }
  client.addEventListener("signedout", (event) => {
    toSignIn(event.detail.reason === "logout" ? "signed-out" : "session-ended");
  });
  client.addEventListener("change", (event) => {
    const { user: now, previousUser } = event.detail;
    if (previousUser && now && previousUser.id !== now.id) location.reload();
  });
  byId("signed-in-as").textContent = user.email;
  byId("sign-out").addEventListener("click", () => client.logout());
  show(byId("account-nav"));
  return user;
}

/** Swap "Loading…" for the page's content, once its first data is shown. */
export function showContent() {
  show(byId("loading"), false);
  show(byId("content"));
}

/** For the sign-in pages: a visitor still signed in goes straight on. */
export async function leaveIfSignedIn() {
  try {
    if (await client.restore()) location.replace(nextPage());
  } catch {
    // The server is unreachable: the sign-in form stays, and says so when used.
  }
}
