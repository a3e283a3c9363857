import { client, leaveIfSignedIn } from "../session.js";
import { byId, onSubmit, show } from "../ui.js";

onSubmit(byId("sign-up-form"), async (data) => {
  const { user } = await client.register(String(data.get("email")), String(data.get("password")));
  byId("sign-up-email").textContent = user.email;
  show(byId("sign-up-step"), false);
  show(byId("sign-up-done"));
  byId("page-title").textContent = "Check your inbox";
  byId("main").focus();
});

leaveIfSignedIn();
