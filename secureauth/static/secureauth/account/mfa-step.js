/** The second step of a sign-in: a code from the authenticator app, or a recovery code. */

import { client } from "./session.js";
import { byId, onSubmit, show } from "./ui.js";

/** Show the step for `challenge` (login/'s MFA answer); `signedIn()` runs once it passes. */
export function startMfaStep(challenge, hide, signedIn) {
  let useRecovery = false;
  const toggle = byId("mfa-toggle");
  show(hide, false);
  show(byId("mfa-step"));
  show(toggle, challenge.methods.includes("recovery_code"));
  toggle.addEventListener("click", () => {
    useRecovery = !useRecovery;
    show(byId("mfa-code-field"), !useRecovery);
    show(byId("mfa-recovery-field"), useRecovery);
    byId("mfa-code").required = !useRecovery;
    byId("mfa-recovery-code").required = useRecovery;
    toggle.textContent = useRecovery ? "Use the authenticator app instead" : "Use a recovery code instead";
    byId(useRecovery ? "mfa-recovery-code" : "mfa-code").focus();
  });
  onSubmit(byId("mfa-form"), async (data) => {
    const answer = useRecovery
      ? { recoveryCode: String(data.get("recovery_code") || "").trim() }
      : { code: String(data.get("code") || "").replace(/\s/g, "") };
    await client.verifyMfa(challenge.mfaToken, answer);
    signedIn();
  });
  byId("mfa-code").focus();
}
