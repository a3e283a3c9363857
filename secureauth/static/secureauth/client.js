/**
 * SecureAuth browser client: an ES module without dependencies (docs/browser.md).
 *
 *   import { SecureAuthClient } from "/static/secureauth/client.js";
 *   const auth = new SecureAuthClient({ baseUrl: "/auth/" });
 *   await auth.restore();                 // signed in again from the refresh cookie?
 *   const me = await auth.request("me/");  // Bearer token added, refreshed when needed
 *
 * - The access token lives in the client object only (never in localStorage,
 *   sessionStorage or a readable cookie); the refresh token is an HttpOnly cookie
 *   (cookie mode), out of reach of any script.
 * - Refresh is single-flight in a tab and across tabs (tokens.js).
 * - One method per endpoint a front end needs, WebAuthn ceremonies included.
 */

import { acceptAccessToken, acceptSignIn, endSession, setUser, SecureAuthError, TokenClient } from "./tokens.js";
import { creationOptionsFromJSON, credentialToJSON, requestOptionsFromJSON } from "./webauthn.js";

export { SecureAuthError } from "./tokens.js";
export * from "./webauthn.js";

export class SecureAuthClient extends TokenClient {
  #deviceName;

  /**
   * @param {object} [options] those of TokenClient (`baseUrl`, `channelName`,
   *   `credentials`, `fetch`), and:
   * @param {string} [options.deviceName] the name of this device in the session list
   */
  constructor({ deviceName = "", ...options } = {}) {
    super(options);
    this.#deviceName = deviceName;
  }

  // ---- signing in and out ------------------------------------------------------------

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
    return { user: this[acceptSignIn](data) };
  }

  /** Sign this browser out: its session is revoked and the refresh cookie cleared. */
  async logout() {
    try {
      if (this.signedIn || this.user) await this.request("logout/", { method: "POST", body: {} });
    } catch (error) {
      if (!(error instanceof SecureAuthError) || error.status !== 401) throw error;
    } finally {
      this[endSession]("logout");
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
    this[acceptAccessToken](data);
  }

  // ---- account -----------------------------------------------------------------------

  register(email, password) {
    return this.request("register/", { method: "POST", auth: false, body: { email, password, device_name: this.#deviceName } });
  }

  async me() {
    const user = await this.request("me/");
    this[setUser](user);
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
