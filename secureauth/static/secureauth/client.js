/**
 * SecureAuth browser client: an ES module without dependencies (docs/browser.md).
 *
 *   import { SecureAuthClient } from "/static/secureauth/client.js";
 *   const auth = new SecureAuthClient({ baseUrl: "/auth/" });
 *   await auth.restore();                 // signed in again from the refresh cookie?
 *   const me = await auth.request("me/");  // Bearer token added, refreshed when needed
 *
 * - The access token lives in this object only (never in localStorage, sessionStorage
 *   or a readable cookie); the refresh token is an HttpOnly cookie (cookie mode: every
 *   call sends `X-SecureAuth-Cookie: 1`), out of reach of any script.
 * - Refresh is single-flight: concurrent calls that meet an expired access token wait
 *   for one refresh/ and retry. Across tabs of one browser one tab refreshes at a time
 *   (Web Locks, or a BroadcastChannel claim where locks are missing) and announces the
 *   new access token; a tab that waited for the lock takes the announced token instead
 *   of refreshing again. Refreshes never overlap, so the rotated cookie is never sent
 *   twice and no tab is signed out by a race.
 */

import { creationOptionsFromJSON, credentialToJSON, requestOptionsFromJSON } from "./webauthn.js";

export * from "./webauthn.js";

const COOKIE_HEADER = "X-SecureAuth-Cookie";
/** codes of a 401 that a refresh can cure */
const REFRESHABLE = new Set(["token_expired", "token_invalid"]);
/** codes of a 401 that end the session for good */
const SESSION_ENDED = new Set(["session_revoked", "token_reused", "token_expired", "token_invalid"]);
/** how long a BroadcastChannel refresh claim holds other tabs back (no Web Locks) */
const PEER_REFRESH_WAIT_MS = 5000;
const MAX_EARLY_REFRESH_MS = 10000;

function fieldErrors(body) {
  if (!body || typeof body !== "object" || Array.isArray(body)) return {};
  const fields = {};
  for (const [name, value] of Object.entries(body)) {
    if (name === "detail" || name === "code") continue;
    if (Array.isArray(value)) fields[name] = value.map(String);
    else if (typeof value === "string") fields[name] = [value];
  }
  return fields;
}

/** An answer of the API that is not a success: `status`, `code`, `detail` (for people), `fields`. */
export class SecureAuthError extends Error {
  constructor(status, body, retryAfter = null) {
    const fields = fieldErrors(body);
    const firstField = Object.values(fields)[0];
    const detail = (body && typeof body.detail === "string" && body.detail)
      || (firstField && firstField[0])
      || `The request failed (HTTP ${status}).`;
    super(detail);
    this.name = "SecureAuthError";
    this.status = status;
    this.code = (body && body.code) || (status === 400 ? "invalid" : "error");
    this.detail = detail;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }
}

export class SecureAuthClient extends EventTarget {
  #base;
  #fetch;
  #credentials;
  #deviceName;
  #lockName;
  #channel = null;
  #token = null;
  #expiresAt = 0;
  #user = null;
  #session = null;
  #refreshing = null;
  #peerRefreshUntil = 0;
  #peerWaiters = [];
  #endReason = null;

  /**
   * @param {object} [options]
   * @param {string} [options.baseUrl="/auth/"] where the API is mounted (ends with "/")
   * @param {string} [options.deviceName] the name of this device in the session list
   * @param {string} [options.channelName="secureauth"] names the cross-tab lock and channel
   * @param {RequestCredentials} [options.credentials="same-origin"] "include" for an API on another origin of the same site
   * @param {typeof fetch} [options.fetch]
   */
  constructor({ baseUrl = "/auth/", deviceName = "", channelName = "secureauth", credentials = "same-origin", fetch: fetchImpl } = {}) {
    super();
    this.#base = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
    this.#fetch = fetchImpl || globalThis.fetch.bind(globalThis);
    this.#credentials = credentials;
    this.#deviceName = deviceName;
    this.#lockName = `${channelName}:refresh`;
    /**
     * Called when an operation answers 401 `reauthentication_required`. Resolve `true`
     * once the user proved themselves (see `reauthenticate()`): the call is retried once.
     * @type {null | ((error: SecureAuthError) => Promise<boolean>)}
     */
    this.reauthenticationHandler = null;
    if (typeof BroadcastChannel !== "undefined") {
      this.#channel = new BroadcastChannel(channelName);
      this.#channel.onmessage = (event) => this.#onPeerMessage(event.data);
    }
  }

  /** The signed-in user object (null when signed out). */
  get user() { return this.#user; }

  /** This browser's session object, as of the last sign-in or refresh. */
  get session() { return this.#session; }

  get signedIn() { return this.#token !== null; }

  /**
   * Why the last session ended: the error code of the refresh or call that found it
   * over ("session_revoked", "token_reused", "token_expired", "logout"...); "invalid"
   * when there was no refresh cookie at all. Null while signed in.
   */
  get endReason() { return this.#token === null ? this.#endReason : null; }

  // ---- calls ---------------------------------------------------------------------

  /**
   * Call the API. `path` is relative to the mount ("me/", "sessions/"). Resolves the
   * JSON answer (null for 204); rejects with a SecureAuthError. With `auth` (default)
   * the access token is added, refreshed first when it is about to expire, and refreshed
   * once more and the call retried when the server finds it expired.
   */
  async request(path, { method = "GET", body, auth = true } = {}) {
    if (!auth) return this.#send(path, method, body, null);
    let access = await this.#currentToken();
    try {
      return await this.#send(path, method, body, access);
    } catch (error) {
      if (!(error instanceof SecureAuthError) || error.status !== 401) throw error;
      if (REFRESHABLE.has(error.code)) {
        access = await this.#refreshAfter(access);
        return this.#retry(path, method, body, access);
      }
      if (error.code === "reauthentication_required" && this.reauthenticationHandler) {
        if (await this.reauthenticationHandler(error)) return this.#retry(path, method, body, this.#token);
      }
      if (error.code === "session_revoked") this.#endSession(error.code, { announce: true });
      throw error;
    }
  }

  async #retry(path, method, body, access) {
    try {
      return await this.#send(path, method, body, access);
    } catch (error) {
      if (error instanceof SecureAuthError && error.status === 401 && SESSION_ENDED.has(error.code)) {
        this.#endSession(error.code, { announce: true });
      }
      throw error;
    }
  }

  async #send(path, method, body, access) {
    const headers = { Accept: "application/json", [COOKIE_HEADER]: "1" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (access) headers.Authorization = `Bearer ${access}`;
    let response;
    try {
      response = await this.#fetch(this.#base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: this.#credentials,
        cache: "no-store",
      });
    } catch {
      throw new SecureAuthError(0, { detail: "The server cannot be reached. Check your connection and try again.", code: "network_error" });
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = { detail: `The server answered HTTP ${response.status} without a readable body.`, code: "server_error" };
    }
    if (!response.ok) {
      const retryAfter = Number(response.headers.get("Retry-After")) || null;
      throw new SecureAuthError(response.status, data, retryAfter);
    }
    return data;
  }

  // ---- tokens and refresh ----------------------------------------------------------

  #fresh() {
    return this.#token !== null && Date.now() < this.#expiresAt;
  }

  async #currentToken() {
    if (this.#fresh()) return this.#token;
    return this.#refreshAfter(this.#token);
  }

  /** A token newer than `stale`: someone else's refresh if one ran meanwhile, else ours. */
  async #refreshAfter(stale) {
    if (this.#token !== stale && this.#fresh()) return this.#token;
    if (!this.#refreshing) {
      this.#refreshing = this.#refreshAcrossTabs(stale).finally(() => { this.#refreshing = null; });
    }
    return this.#refreshing;
  }

  #refreshAcrossTabs(stale) {
    const refreshUnlessAnnounced = async (claim) => {
      // The lock was perhaps held by a tab that refreshed and announced its token.
      if (this.#token !== stale && this.#fresh()) return this.#token;
      if (claim) claim();
      return this.#refreshNow();
    };
    if (typeof navigator !== "undefined" && navigator.locks) {
      return navigator.locks.request(this.#lockName, () => refreshUnlessAnnounced());
    }
    if (this.#channel) return this.#refreshAfterPeers(refreshUnlessAnnounced);
    return refreshUnlessAnnounced();
  }

  /**
   * Without Web Locks: while another tab has announced that it is refreshing, wait for
   * its result (or PEER_REFRESH_WAIT_MS); then refresh unless its token arrived. Two
   * tabs that announce at the very same moment both refresh: the server's grace window
   * (REFRESH_REUSE_GRACE_SECONDS) then answers both with the same new token.
   */
  async #refreshAfterPeers(refreshUnlessAnnounced) {
    if (Date.now() < this.#peerRefreshUntil) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, PEER_REFRESH_WAIT_MS);
        this.#peerWaiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return refreshUnlessAnnounced(() => this.#channel.postMessage({ type: "refreshing" }));
  }

  async #refreshNow() {
    let data;
    try {
      data = await this.#send("refresh/", "POST", {}, null);
    } catch (error) {
      // 400 (no cookie), 401 (expired, revoked, reused) and 403: there is no session.
      if (error instanceof SecureAuthError && [400, 401, 403].includes(error.status)) {
        this.#endSession(error.code, { announce: true });
        throw new SecureAuthError(401, { detail: "You are signed out. Sign in again.", code: "not_authenticated" });
      }
      throw error;
    }
    this.#acceptTokens(data, { announce: true });
    return this.#token;
  }

  #setAccess(accessToken, expiresInSeconds) {
    const lifetimeMs = expiresInSeconds * 1000;
    this.#token = accessToken;
    // Refresh a little before the server would refuse the token.
    this.#expiresAt = Date.now() + lifetimeMs - Math.min(MAX_EARLY_REFRESH_MS, lifetimeMs / 10);
  }

  #acceptTokens(data, { announce }) {
    const previousUser = this.#user;
    this.#setAccess(data.access_token, data.expires_in);
    if (data.user) this.#user = data.user;
    if (data.session) this.#session = data.session;
    if (announce) this.#announceTokens();
    this.#notify(previousUser);
  }

  #announceTokens() {
    if (!this.#channel) return;
    this.#channel.postMessage({
      type: "tokens",
      accessToken: this.#token,
      validForMs: Math.max(0, this.#expiresAt - Date.now()),
      user: this.#user,
      session: this.#session,
    });
  }

  #endSession(reason, { announce }) {
    this.#endReason = reason;
    const wasSignedIn = this.#token !== null || this.#user !== null;
    this.#token = null;
    this.#expiresAt = 0;
    this.#user = null;
    this.#session = null;
    if (announce && this.#channel) this.#channel.postMessage({ type: "signed-out", reason });
    if (wasSignedIn) this.dispatchEvent(new CustomEvent("signedout", { detail: { reason } }));
  }

  #notify(previousUser) {
    this.dispatchEvent(new CustomEvent("change", { detail: { user: this.#user, previousUser } }));
  }

  #onPeerMessage(message) {
    if (!message || typeof message !== "object") return;
    if (message.type === "refreshing") {
      this.#peerRefreshUntil = Date.now() + PEER_REFRESH_WAIT_MS;
      return;
    }
    this.#peerRefreshUntil = 0;
    const waiters = this.#peerWaiters.splice(0);
    if (message.type === "tokens" && typeof message.accessToken === "string") {
      const previousUser = this.#user;
      this.#token = message.accessToken;
      this.#expiresAt = Date.now() + Number(message.validForMs || 0);
      this.#user = message.user || this.#user;
      this.#session = message.session || this.#session;
      this.#notify(previousUser);
    } else if (message.type === "signed-out") {
      this.#endSession(message.reason || "signed_out", { announce: false });
    }
    waiters.forEach((wake) => wake());
  }

  // ---- signing in and out ------------------------------------------------------------

  /** On page load: sign in again from the refresh cookie. Resolves the user, or null. */
  async restore() {
    if (this.#fresh()) return this.#user;
    try {
      await this.#refreshAfter(this.#token);
    } catch (error) {
      if (error instanceof SecureAuthError && error.status === 401) return null;
      throw error;
    }
    return this.#user;
  }

  /** Resolves `{ user }`, or `{ mfaRequired: true, mfaToken, methods }` for the second step. */
  async login(email, password) {
    const data = await this.request("login/", { method: "POST", auth: false, body: { email, password, device_name: this.#deviceName } });
    return this.#signInOutcome(data);
  }

  /** The second step: `{ code }` from the authenticator app or `{ recoveryCode }`. */
  async verifyMfa(mfaToken, { code, recoveryCode } = {}) {
    const body = { mfa_token: mfaToken };
    if (recoveryCode) body.recovery_code = recoveryCode;
    else body.code = code;
    const data = await this.request("mfa/verify/", { method: "POST", auth: false, body });
    return this.#signInOutcome(data);
  }

  /** Sign in with a passkey (a discoverable credential; `email` narrows the choice). */
  async signInWithPasskey({ email = "" } = {}) {
    const begin = await this.request("passkeys/login/begin/", { method: "POST", auth: false, body: email ? { email } : {} });
    const credential = await navigator.credentials.get({ publicKey: requestOptionsFromJSON(begin.options) });
    const data = await this.request("passkeys/login/complete/", {
      method: "POST",
      auth: false,
      body: { challenge_id: begin.challenge_id, credential: credentialToJSON(credential), device_name: this.#deviceName },
    });
    return this.#signInOutcome(data);
  }

  /** Mail an email sign-in link (the answer is the same whether or not the address is known). */
  requestMagicLink(email) {
    return this.request("magic-link/", { method: "POST", auth: false, body: { email, device_name: this.#deviceName } });
  }

  /** Exchange the token of an email sign-in link: `{ user }` or the MFA step. */
  async confirmMagicLink(token) {
    const data = await this.request("magic-link/confirm/", { method: "POST", auth: false, body: { token } });
    return this.#signInOutcome(data);
  }

  #signInOutcome(data) {
    if (data && data.mfa_required) {
      return { mfaRequired: true, mfaToken: data.mfa_token, methods: data.methods || [] };
    }
    this.#acceptTokens(data, { announce: true });
    return { user: this.#user };
  }

  /** Sign this browser out: its session is revoked and the refresh cookie cleared. */
  async logout() {
    try {
      if (this.#token || this.#user) await this.request("logout/", { method: "POST", body: {} });
    } catch (error) {
      if (!(error instanceof SecureAuthError) || error.status !== 401) throw error;
    } finally {
      this.#endSession("logout", { announce: true });
    }
  }

  /**
   * Prove the user again: `{ password }`, or `{ code }` / `{ recoveryCode }` for a user
   * with TOTP. The session gets a new access token with a fresh `auth_time`.
   */
  async reauthenticate({ password, code, recoveryCode } = {}) {
    let body;
    if (password) body = { password };
    else if (recoveryCode) body = { recovery_code: recoveryCode };
    else body = { code };
    const data = await this.request("reauthenticate/", { method: "POST", body });
    this.#acceptReauthentication(data);
    return data;
  }

  /** Prove the user again with one of their passkeys. */
  async reauthenticateWithPasskey() {
    const begin = await this.request("passkeys/login/begin/", { method: "POST", body: {} });
    const credential = await navigator.credentials.get({ publicKey: requestOptionsFromJSON(begin.options) });
    const data = await this.request("passkeys/login/complete/", {
      method: "POST",
      body: { challenge_id: begin.challenge_id, credential: credentialToJSON(credential) },
    });
    this.#acceptReauthentication(data);
    return data;
  }

  #acceptReauthentication(data) {
    this.#setAccess(data.access_token, data.expires_in);
    this.#announceTokens();
  }

  // ---- account -----------------------------------------------------------------------

  register(email, password) {
    return this.request("register/", { method: "POST", auth: false, body: { email, password, device_name: this.#deviceName } });
  }

  async me() {
    const user = await this.request("me/");
    this.#user = user;
    return user;
  }

  verifyEmail(uid, token) {
    return this.request("email/verify/", { method: "POST", auth: false, body: { uid, token } });
  }

  resendVerificationEmail() {
    return this.request("email/verify/resend/", { method: "POST" });
  }

  requestPasswordReset(email) {
    return this.request("password/reset/", { method: "POST", auth: false, body: { email } });
  }

  resetPassword(uid, token, newPassword) {
    return this.request("password/reset/confirm/", { method: "POST", auth: false, body: { uid, token, new_password: newPassword } });
  }

  changePassword(currentPassword, newPassword) {
    return this.request("password/change/", { method: "POST", body: { current_password: currentPassword, new_password: newPassword } });
  }

  reportSession(token) {
    return this.request("sessions/report/", { method: "POST", auth: false, body: { token } });
  }

  // ---- sessions and activity ---------------------------------------------------------

  sessions() {
    return this.request("sessions/");
  }

  revokeSession(sessionId) {
    return this.request(`sessions/${encodeURIComponent(sessionId)}/`, { method: "DELETE" });
  }

  /** Revoke every session but this one; resolves how many were revoked. */
  async revokeOtherSessions() {
    const others = (await this.sessions()).filter((session) => !session.current);
    let revoked = 0;
    for (const session of others) {
      try {
        await this.revokeSession(session.id);
        revoked += 1;
      } catch (error) {
        // Ended meanwhile (signed out, expired): nothing left to do for that one.
        if (!(error instanceof SecureAuthError) || error.status !== 404) throw error;
      }
    }
    return revoked;
  }

  /** One page of the user's security events: `{ count, next, previous, results }`. */
  audit({ page = 1, pageSize = 20 } = {}) {
    return this.request(`audit/?page=${encodeURIComponent(page)}&page_size=${encodeURIComponent(pageSize)}`);
  }

  // ---- two-factor authentication -----------------------------------------------------

  /** `{ secret, otpauth_uri, qr_svg }` of a new authenticator app, pending confirmation. */
  setupTotp() {
    return this.request("mfa/totp/setup/", { method: "POST", body: {} });
  }

  /** Confirm the app with a current code; resolves `{ recovery_codes }` (shown once). */
  confirmTotp(code) {
    return this.request("mfa/totp/confirm/", { method: "POST", body: { code } });
  }

  regenerateRecoveryCodes(code) {
    return this.request("mfa/recovery-codes/", { method: "POST", body: { code } });
  }

  disableMfa({ password, code, recoveryCode }) {
    const body = recoveryCode ? { recovery_code: recoveryCode } : { code };
    if (password) body.password = password;
    return this.request("mfa/disable/", { method: "POST", body });
  }

  // ---- passkeys ------------------------------------------------------------------------

  passkeys() {
    return this.request("passkeys/");
  }

  /** Create a passkey on this device's authenticator and register it under `name`. */
  async addPasskey(name = "") {
    const options = await this.request("passkeys/register/begin/", { method: "POST", body: {} });
    const credential = await navigator.credentials.create({ publicKey: creationOptionsFromJSON(options) });
    return this.request("passkeys/register/complete/", { method: "POST", body: { credential: credentialToJSON(credential), name } });
  }

  removePasskey(passkeyId, { password } = {}) {
    return this.request(`passkeys/${encodeURIComponent(passkeyId)}/`, { method: "DELETE", body: password ? { password } : {} });
  }

  // ---- social identities ---------------------------------------------------------------

  socialConnections() {
    return this.request("social/connections/");
  }

  unlinkSocialConnection(connectionId) {
    return this.request(`social/connections/${encodeURIComponent(connectionId)}/`, { method: "DELETE" });
  }
}
