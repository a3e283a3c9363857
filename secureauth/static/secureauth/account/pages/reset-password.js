import { client } from "../session.js";
import { announce, byId, onSubmit, show, takeLinkParameters } from "../ui.js";

const { uid, token } = takeLinkParameters("uid", "token");
const form = byId("reset-form");

if (!uid || !token) {
  show(form, false);
  announce("This link is incomplete. Ask for a new one on the “Forgot your password?” page.", "error");
}

onSubmit(form, async (data) => {
  await client.resetPassword(uid, token, String(data.get("new_password")));
  show(form, false);
  show(byId("reset-done"));
  byId("main").focus();
});
