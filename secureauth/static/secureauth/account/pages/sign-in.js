import { passkeysSupported } from "../../client.js";
import { startMfaStep } from "../mfa-step.js";
import { client, leaveIfSignedIn, nextPage } from "../session.js";
import { announce, byId, onClick, onSubmit, show, webauthnProblem } from "../ui.js";

const REASONS = {
  "session-ended": "Your session has ended: it was signed out from another device, or it expired. Sign in again.",
  "signed-out": "You are signed out.",
};

const reason = new URLSearchParams(location.search).get("reason");
if (REASONS[reason]) announce(REASONS[reason], "info");

const goOn = () => location.assign(nextPage());

onSubmit(byId("sign-in-form"), async (data) => {
  const outcome = await client.login(String(data.get("email")), String(data.get("password")));
  if (outcome.mfaRequired) startMfaStep(outcome, byId("password-step"), goOn);
  else goOn();
});

const passkeyButton = byId("passkey-sign-in");
show(passkeyButton, passkeysSupported());
onClick(passkeyButton, async () => {
  try {
    await client.signInWithPasskey({ email: byId("email").value.trim() });
  } catch (error) {
    const problem = webauthnProblem(error);
    if (!problem) throw error;
    announce(problem, "error", { focus: true });
    return;
  }
  goOn();
});

onSubmit(byId("magic-link-form"), async (data) => {
  const answer = await client.requestMagicLink(String(data.get("email")));
  announce((answer && answer.detail) || "If an account uses this address, we have sent it a sign-in link.", "success", { focus: true });
});

leaveIfSignedIn();
