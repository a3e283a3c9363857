import { client, pageUrl } from "../session.js";
import { announce, byId, show, showError, takeLinkParameters } from "../ui.js";

const { uid, token } = takeLinkParameters("uid", "token");

async function verify() {
  if (!uid || !token) {
    announce("This link is incomplete. Open the link from the email again, or ask for a new one from the security page.", "error");
    return;
  }
  try {
    await client.verifyEmail(uid, token);
  } catch (error) {
    showError(null, error);
    return;
  } finally {
    show(byId("verify-progress"), false);
  }
  const signedIn = await client.restore().catch(() => null);
  byId("verify-continue").href = signedIn ? pageUrl("security") : pageUrl("sign-in");
  byId("verify-continue").textContent = signedIn ? "Back to your account" : "Sign in";
  show(byId("verify-done"));
  byId("main").focus();
}

verify();
