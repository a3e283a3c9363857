/**
 * The token half of SecureAuth's browser client (client.js builds on it): API calls
 * with the access token, and the refresh that renews it, single-flight in a tab and
 * one tab at a time across the tabs of a browser (docs/browser.md).
 *
 * The access token lives in a private field only; the refresh token is the API's
 * HttpOnly cookie (every call sends `X-SecureAuth-Cookie: 1`). A refresh runs under a
 * Web Lock (or, without Web Locks, after a BroadcastChannel claim); the tab that
 * refreshed announces the new access token, and a tab that waited for the lock takes
 * that token instead of refreshing again. Refreshes never overlap, so the rotated
 * cookie is never sent twice and no tab is signed out by a race.
 */

/** Hooks of TokenClient for its subclass in client.js; not part of the public API. */
export const acceptSignIn = Symbol("acceptSignIn");
export const acceptAccessToken = Symbol("acceptAccessToken");
export const endSession = Symbol("endSession");
export const setUser = Symbol("setUser");

import { DPoPSigner } from "./dpop.js";

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

/** Calls with the access token, refreshed single-flight; events `change` and `signedout`. */
export class TokenClient extends EventTarget {
  #base;
  #fetch;
  #credentials;
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
  #dpop;
  #signer = null;
  #tokenType = "Bearer";
  #nonce = null;

  /**
   * @param {object} [options]
   * @param {string} [options.baseUrl="/auth/"] where the API is mounted (ends with "/")
   * @param {string} [options.channelName="secureauth"] names the cross-tab lock and channel
   * @param {RequestCredentials} [options.credentials="same-origin"] "include" for an API on another origin of the same site
   * @param {typeof fetch} [options.fetch]
   * @param {boolean} [options.dpop=false] bind the session to a non-extractable key of
   *   this browser (DPoP, RFC 9449; dpop.js): every call carries a proof signed by it
   */
  constructor({ baseUrl = "/auth/", channelName = "secureauth", credentials = "same-origin", fetch: fetchImpl, dpop = false } = {}) {
    super();
    this.#dpop = Boolean(dpop);
    this.#base = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
    this.#fetch = fetchImpl || globalThis.fetch.bind(globalThis);
    this.#credentials = credentials;
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

  /** The token type of the current session: "DPoP" once it is bound to this browser's key. */
  get tokenType() { return this.#tokenType; }

  /** This browser's DPoP signer (dpop.js), or null without the `dpop` option. */
  async dpopSigner() {
    if (!this.#dpop) return null;
    if (!this.#signer) this.#signer = DPoPSigner.open();
    return this.#signer;
  }

  async #send(path, method, body, access, { nonceRetry = true } = {}) {
    const url = this.#base + path;
    const headers = { Accept: "application/json", [COOKIE_HEADER]: "1" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const bound = this.#tokenType === "DPoP";
    if (access) headers.Authorization = `${bound ? "DPoP" : "Bearer"} ${access}`;
    const signer = await this.dpopSigner();
    if (signer) {
      headers.DPoP = await signer.proof(method, url, { accessToken: access && bound ? access : null, nonce: this.#nonce });
    }
    let response;
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: this.#credentials,
        cache: "no-store",
      });
    } catch {
      throw new SecureAuthError(0, { detail: "The server cannot be reached. Check your connection and try again.", code: "network_error" });
    }
    const nonce = response.headers.get("DPoP-Nonce");
    if (nonce) this.#nonce = nonce;
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = { detail: `The server answered HTTP ${response.status} without a readable body.`, code: "server_error" };
    }
    if (!response.ok && signer && nonce && nonceRetry && data && data.code === "use_dpop_nonce") {
      return this.#send(path, method, body, access, { nonceRetry: false });  // with the server's nonce
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
    this.#tokenType = data.token_type === "DPoP" ? "DPoP" : "Bearer";
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
      tokenType: this.#tokenType,
      validForMs: Math.max(0, this.#expiresAt - Date.now()),
      user: this.#user,
      session: this.#session,
    });
  }

  #endSession(reason, { announce }) {
    this.#endReason = reason;
    const wasSignedIn = this.#token !== null || this.#user !== null;
    this.#token = null;
    this.#tokenType = "Bearer";
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
      this.#tokenType = message.tokenType === "DPoP" ? "DPoP" : "Bearer";
      this.#expiresAt = Date.now() + Number(message.validForMs || 0);
      this.#user = message.user || this.#user;
      this.#session = message.session || this.#session;
      this.#notify(previousUser);
    } else if (message.type === "signed-out") {
      this.#endSession(message.reason || "signed_out", { announce: false });
    }
    waiters.forEach((wake) => wake());
  }

  // ---- restoring -------------------------------------------------------------------

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

  // ---- for the subclass ------------------------------------------------------------

  /** A sign-in's token response (or a refresh's): keep it and tell the other tabs. */
  [acceptSignIn](data) {
    this.#acceptTokens(data, { announce: true });
    return this.#user;
  }

  /** A re-authentication's new access token for the same session. */
  [acceptAccessToken](data) {
    if (data.token_type) this.#tokenType = data.token_type === "DPoP" ? "DPoP" : "Bearer";
    this.#setAccess(data.access_token, data.expires_in);
    this.#announceTokens();
  }

  [endSession](reason) {
    this.#endSession(reason, { announce: true });
  }

  [setUser](user) {
    this.#user = user;
  }
}
