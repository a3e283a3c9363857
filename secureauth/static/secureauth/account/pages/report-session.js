import { client } from "../session.js";
import { announce, byId, onClick, show, takeLinkParameters } from "../ui.js";

const { token } = takeLinkParameters("token");
const button = byId("report-session");

if (!token) {
  show(byId("report-step"), false);
  announce("This link is incomplete. Open the link from the email again.", "error");
}

onClick(button, async () => {
  await client.reportSession(token);
  show(byId("report-step"), false);
  show(byId("report-done"));
  byId("main").focus();
});
