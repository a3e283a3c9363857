/** DOM helpers of the account pages: messages, field errors, busy forms, dates. */

import { SecureAuthError } from "../client.js";

export const byId = (id) => document.getElementById(id);

/** An element with text children only (never HTML from the server). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Show a message in the page's live region (read out by screen readers). */
export function announce(text, kind = "info", { focus = false, region = byId("messages") } = {}) {
  region.replaceChildren(el("p", { className: `message ${kind}`, role: kind === "error" ? "alert" : null }, text));
  if (focus) {
    region.setAttribute("tabindex", "-1");
    region.focus();
  }
}

export function clearMessages(region = byId("messages")) {
  region.replaceChildren();
}

export function clearFieldErrors(form) {
  form.querySelectorAll(".field-error").forEach((node) => node.remove());
  form.querySelectorAll("[aria-invalid]").forEach((input) => {
    input.removeAttribute("aria-invalid");
    const describedBy = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => !id.endsWith("-error"));
    if (describedBy.length) input.setAttribute("aria-describedby", describedBy.join(" "));
    else input.removeAttribute("aria-describedby");
  });
}

/** Put an API error on the form: field errors beside their inputs, the rest in the live region. */
export function showError(form, error, region = byId("messages")) {
  if (!(error instanceof SecureAuthError)) {
    announce("Something went wrong. Try again.", "error", { region, focus: true });
    throw error;
  }
  let firstInvalid = null;
  const unplaced = [];
  for (const [name, messages] of Object.entries(error.fields)) {
    const input = form && form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!input) {
      unplaced.push(...messages);
      continue;
    }
    const errorId = `${input.id}-error`;
    input.setAttribute("aria-invalid", "true");
    const describedBy = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    input.setAttribute("aria-describedby", [...describedBy, errorId].join(" "));
    input.closest(".field").append(el("p", { className: "field-error", id: errorId }, messages.join(" ")));
    firstInvalid = firstInvalid || input;
  }
  let text = unplaced.length ? unplaced.join(" ") : error.detail;
  if (error.code === "rate_limited" && error.retryAfter) text = `${error.detail} Try again in ${waitWords(error.retryAfter)}.`;
  announce(text, "error", { region, focus: !firstInvalid });
  if (firstInvalid) firstInvalid.focus();
}

function waitWords(seconds) {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}

/** Run `action` for a form submit: busy button, errors shown, focus kept sensible. */
export function onSubmit(form, action, { region } = {}) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await busy(form.querySelector('[type="submit"]'), async () => {
      clearFieldErrors(form);
      clearMessages(region);
      try {
        await action(new FormData(form));
      } catch (error) {
        showError(form, error, region);
      }
    });
  });
}

/** Run `action` for a button click, with the button busy meanwhile and errors shown. */
export function onClick(button, action) {
  button.addEventListener("click", () => busy(button, async () => {
    clearMessages();
    try {
      await action();
    } catch (error) {
      showError(null, error);
    }
  }));
}

export async function busy(button, action) {
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  try {
    await action();
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatTime(iso) {
  return iso ? dateFormat.format(new Date(iso)) : "never";
}

export function timeElement(iso) {
  return iso ? el("time", { datetime: iso }, formatTime(iso)) : "never";
}

/** "Chrome 156 on Linux", from a session's device object. */
export function deviceWords(device) {
  const browser = device.browser || "Unknown browser";
  return device.os ? `${browser} on ${device.os}` : browser;
}

/** A passkey or browser error as a sentence: a cancelled prompt is not a failure. */
export function webauthnProblem(error) {
  if (error && error.name === "NotAllowedError") return "The passkey prompt was closed or timed out.";
  if (error && error.name === "InvalidStateError") return "This device already holds a passkey of your account.";
  if (error && error.name === "SecurityError") return "Passkeys do not work on this address: open the page at its configured domain.";
  return null;
}

export async function copyText(text) {
  await navigator.clipboard.writeText(text);
}

export function downloadText(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Read the query parameters of a mailed link, then drop them from the address bar and history. */
export function takeLinkParameters(...names) {
  const params = new URLSearchParams(location.search);
  const values = Object.fromEntries(names.map((name) => [name, params.get(name) || ""]));
  history.replaceState(null, "", location.pathname);
  return values;
}
