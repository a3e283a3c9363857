import { startMfaStep } from "../mfa-step.js";
import { client, pageUrl } from "../session.js";
import { announce, byId, onClick, show, takeLinkParameters } from "../ui.js";

// The link is used by a click, not on load: a mail scanner that opens links does not
// spend it.
const { token } = takeLinkParameters("token");
const step = byId("magic-step");
const goOn = () => location.assign(pageUrl("security"));

if (!token) {
  show(step, false);
  announce("This link is incomplete. Ask for a new one on the sign-in page.", "error");
}

onClick(byId("magic-continue"), async () => {
  const outcome = await client.confirmMagicLink(token);
  if (outcome.mfaRequired) startMfaStep(outcome, step, goOn);
  else goOn();
});
