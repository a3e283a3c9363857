import { passkeysSupported } from "../../client.js";
import { installReauthentication, offerMethods } from "../reauthenticate.js";
import { client, requireUser, showContent } from "../session.js";
import {
  announce, byId, copyText, downloadText, el, onClick, onSubmit, show, timeElement, webauthnProblem,
} from "../ui.js";

const PROVIDERS = { "google-oauth2": "Google", github: "GitHub", oidc: "OpenID Connect" };

let user = await requireUser();
installReauthentication(user);

function codeOf(data, name = "code") {
  return String(data.get(name) || "").replace(/\s/g, "");
}

// ---- email ---------------------------------------------------------------------------

function renderEmail() {
  byId("email-address").textContent = user.email;
  const status = byId("email-status");
  status.textContent = user.email_verified ? "verified" : "not verified";
  status.className = user.email_verified ? "badge ok" : "badge warn";
  show(byId("resend-verification"), !user.email_verified);
}

onClick(byId("resend-verification"), async () => {
  const answer = await client.resendVerificationEmail();
  announce(answer.detail, "success", { focus: true });
});

// ---- authenticator app -----------------------------------------------------------------

function renderTotp() {
  byId("totp-status").textContent = user.mfa_enabled
    ? "On: signing in asks for a code from your authenticator app."
    : "Off: add a code from an authenticator app to your sign-in.";
  show(byId("totp-off"), !user.mfa_enabled && byId("totp-enroll").hidden);
  show(byId("totp-on"), user.mfa_enabled);
}

function showRecoveryCodes(codes) {
  byId("recovery-code-list").replaceChildren(...codes.map((code) => el("li", {}, el("code", {}, code))));
  show(byId("recovery-codes"));
  show(byId("totp-on"), false);
  byId("recovery-title").focus();
  const text = `SecureAuth recovery codes for ${user.email}\n\n${codes.join("\n")}\n`;
  byId("copy-codes").onclick = async () => {
    try {
      await copyText(codes.join("\n"));
      announce("The recovery codes are copied.", "success");
    } catch {
      announce("Copying is not allowed here: select the codes, or download them.", "error");
    }
  };
  byId("download-codes").onclick = () => downloadText("secureauth-recovery-codes.txt", text);
}

onClick(byId("codes-saved"), async () => {
  byId("recovery-code-list").replaceChildren();
  show(byId("recovery-codes"), false);
  renderTotp();
  byId("totp-title").focus();
});

async function refreshUser() {
  user = await client.me();
  offerMethods(user);
  renderEmail();
  renderTotp();
}

onClick(byId("totp-setup"), async () => {
  const setup = await client.setupTotp();
  byId("totp-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(setup.qr_svg)}`;
  byId("totp-secret").textContent = setup.secret.replace(/(.{4})/g, "$1 ").trim();
  show(byId("totp-off"), false);
  show(byId("totp-enroll"));
  byId("totp-code").focus();
});

onSubmit(byId("totp-confirm-form"), async (data) => {
  const answer = await client.confirmTotp(codeOf(data));
  byId("totp-confirm-form").reset();
  show(byId("totp-enroll"), false);
  await refreshUser();
  announce("The authenticator app is on. Your other sessions were signed out.", "success");
  showRecoveryCodes(answer.recovery_codes);
});

onSubmit(byId("regenerate-form"), async (data) => {
  const answer = await client.regenerateRecoveryCodes(codeOf(data));
  byId("regenerate-form").reset();
  announce("New recovery codes: the old ones no longer work.", "success");
  showRecoveryCodes(answer.recovery_codes);
});

onSubmit(byId("disable-form"), async (data) => {
  await client.disableMfa({ password: String(data.get("password") || ""), code: codeOf(data) });
  byId("disable-form").reset();
  await refreshUser();
  announce("The authenticator app is off.", "success", { focus: true });
});

// ---- passkeys --------------------------------------------------------------------------

function passkeyCard(passkey) {
  return el(
    "li",
    { className: "card" },
    el("h3", { className: "card-title" }, passkey.name || "Passkey"),
    el("p", { className: "meta" }, "Added ", timeElement(passkey.created_at), " · last used ", timeElement(passkey.last_used_at)),
    el("div", { className: "actions" },
      el("button", { type: "button", className: "danger", "data-passkey": passkey.id, "aria-label": `Remove passkey ${passkey.name || ""}`.trim() }, "Remove")),
  );
}

async function renderPasskeys() {
  const passkeys = await client.passkeys();
  const list = byId("passkey-list");
  list.replaceChildren(...passkeys.map(passkeyCard));
  if (!passkeys.length) list.append(el("li", { className: "empty" }, "No passkeys yet."));
}

const supported = passkeysSupported();
show(byId("add-passkey-form"), supported);
show(byId("passkeys-unsupported"), !supported);

onSubmit(byId("add-passkey-form"), async (data) => {
  const name = String(data.get("name") || "").trim();
  try {
    await client.addPasskey(name);
  } catch (error) {
    const problem = webauthnProblem(error);
    if (!problem) throw error;
    announce(problem, "error", { focus: true });
    return;
  }
  byId("add-passkey-form").reset();
  await renderPasskeys();
  announce(`Passkey ${name ? `“${name}” ` : ""}added. Your other sessions were signed out.`, "success", { focus: true });
});

byId("passkey-list").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-passkey]");
  if (!button) return;
  button.disabled = true;
  try {
    await client.removePasskey(button.dataset.passkey);
    await renderPasskeys();
    announce("Passkey removed. Your other sessions were signed out.", "success", { focus: true });
  } catch (error) {
    button.disabled = false;
    announce(error.detail || "Something went wrong. Try again.", "error", { focus: true });
  }
});

// ---- linked accounts ---------------------------------------------------------------

function connectionCard(connection) {
  const provider = PROVIDERS[connection.provider] || connection.provider;
  return el(
    "li",
    { className: "card" },
    el("h3", { className: "card-title" }, provider),
    el("p", { className: "meta" }, connection.uid, " · linked ", timeElement(connection.created_at)),
    el("div", { className: "actions" },
      el("button", { type: "button", className: "danger", "data-connection": connection.id, "aria-label": `Unlink ${provider}` }, "Unlink")),
  );
}

async function renderConnections() {
  const connections = await client.socialConnections();
  const list = byId("social-list");
  list.replaceChildren(...connections.map(connectionCard));
  if (!connections.length) list.append(el("li", { className: "empty" }, "No linked accounts."));
}

byId("social-list").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-connection]");
  if (!button) return;
  button.disabled = true;
  try {
    await client.unlinkSocialConnection(button.dataset.connection);
    await renderConnections();
    announce("The account is unlinked.", "success", { focus: true });
  } catch (error) {
    button.disabled = false;
    announce(error.detail || "Something went wrong. Try again.", "error", { focus: true });
  }
});

// ---- password ----------------------------------------------------------------------

onSubmit(byId("password-form"), async (data) => {
  await client.changePassword(String(data.get("current_password")), String(data.get("new_password")));
  byId("password-form").reset();
  announce("Your password is changed. Your other sessions were signed out.", "success", { focus: true });
});

// ---- first render ------------------------------------------------------------------

renderEmail();
renderTotp();
try {
  await Promise.all([refreshUser(), renderPasskeys(), renderConnections()]);
} catch (error) {
  announce(error.detail || "Part of this page could not be loaded.", "error");
}
showContent();
