import { installReauthentication } from "../reauthenticate.js";
import { client, requireUser, showContent } from "../session.js";
import { announce, byId, deviceWords, el, onClick, timeElement } from "../ui.js";

const DEVICE_TYPES = { desktop: "Computer", mobile: "Phone", tablet: "Tablet", bot: "Automated client", other: "Other device" };

function sessionCard(session) {
  const title = session.device.name || deviceWords(session.device);
  const action = session.current
    ? el("button", { type: "button", "data-action": "sign-out" }, "Sign out")
    : el("button", { type: "button", className: "danger", "data-action": "revoke", "data-session": session.id }, "Sign out this session");
  action.setAttribute("aria-label", session.current ? "Sign out of this device" : `Sign out ${title}`);
  return el(
    "li",
    { className: session.current ? "card current" : "card", "data-session-id": session.id },
    el("h2", { className: "card-title" }, title, session.current ? el("span", { className: "badge" }, "This device") : null),
    el(
      "dl",
      { className: "facts" },
      el("dt", {}, "Device"), el("dd", {}, `${deviceWords(session.device)} · ${DEVICE_TYPES[session.device.type] || "Device"}`),
      el("dt", {}, "IP address"), el("dd", {}, session.ip || "unknown"),
      el("dt", {}, "Signed in"), el("dd", {}, timeElement(session.created_at)),
      el("dt", {}, "Last active"), el("dd", {}, timeElement(session.last_used_at)),
    ),
    el("div", { className: "actions" }, action),
  );
}

async function render() {
  const sessions = await client.sessions();
  const list = byId("session-list");
  list.replaceChildren(...sessions.map(sessionCard));
  const others = sessions.filter((session) => !session.current).length;
  byId("revoke-others").disabled = others === 0;
  byId("revoke-others").textContent = others ? `Sign out everywhere else (${others})` : "No other sessions";
  return sessions;
}

const user = await requireUser();
installReauthentication(user);
await render();
showContent();

byId("session-list").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  button.disabled = true;
  try {
    if (button.dataset.action === "sign-out") {
      await client.logout();
      return;
    }
    const name = button.closest(".card").querySelector(".card-title").firstChild.textContent;
    await client.revokeSession(button.dataset.session);
    await render();
    announce(`${name} is signed out.`, "success", { focus: true });
  } catch (error) {
    button.disabled = false;
    announce(error.detail || "Something went wrong. Try again.", "error", { focus: true });
  }
});

onClick(byId("revoke-others"), async () => {
  const count = await client.revokeOtherSessions();
  await render();
  announce(count === 1 ? "1 other session is signed out." : `${count} other sessions are signed out.`, "success", { focus: true });
});
