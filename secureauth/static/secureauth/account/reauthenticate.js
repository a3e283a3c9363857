/**
 * The re-authentication prompt: operations that answer 401 `reauthentication_required`
 * open this dialog; once the user proved themselves (password, authenticator code or
 * passkey) the client retries the operation.
 */

import { passkeysSupported } from "../client.js";
import { client } from "./session.js";
import { byId, clearFieldErrors, clearMessages, show, showError, webauthnProblem, announce } from "./ui.js";

const dialog = byId("reauth-dialog");
const form = byId("reauth-form");
const region = byId("reauth-messages");

/** Show the authenticator-code field only to users with TOTP. */
export function offerMethods(user) {
  show(byId("reauth-code-field"), Boolean(user.mfa_enabled));
  show(byId("reauth-passkey"), passkeysSupported());
}

function prompt() {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const listeners = new AbortController();
    const { signal } = listeners;
    form.reset();
    clearFieldErrors(form);
    clearMessages(region);
    const finish = (proved) => {
      listeners.abort();
      if (dialog.open) dialog.close();
      if (opener && opener.focus) opener.focus();
      resolve(proved);
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearFieldErrors(form);
      clearMessages(region);
      const data = new FormData(form);
      const code = String(data.get("code") || "").trim();
      try {
        await client.reauthenticate(code ? { code } : { password: String(data.get("password") || "") });
        finish(true);
      } catch (error) {
        showError(form, error, region);
      }
    }, { signal });
    byId("reauth-passkey").addEventListener("click", async () => {
      clearMessages(region);
      try {
        await client.reauthenticateWithPasskey();
        finish(true);
      } catch (error) {
        const problem = webauthnProblem(error);
        if (problem) announce(problem, "error", { region });
        else showError(form, error, region);
      }
    }, { signal });
    byId("reauth-cancel").addEventListener("click", () => finish(false), { signal });
    dialog.addEventListener("cancel", () => finish(false), { signal });
    dialog.showModal();
    byId("reauth-password").focus();
  });
}

export function installReauthentication(user) {
  offerMethods(user);
  client.reauthenticationHandler = prompt;
}
